/** Named errors that keep the original as `cause`. */

export class CommandFailedError extends Error {
  constructor(
    readonly argv: string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(`${argv.join(' ')} failed${exitCode === undefined ? '' : ` with exit code ${exitCode}`}: ${stderr.trim().split('\n')[0] ?? ''}`, options);
    this.name = 'CommandFailedError';
  }
}

export class NotSupportedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NotSupportedError';
  }
}

/** A usage problem the CLI reports with exit code 2. */
export class UsageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/** A bundle or archive refused because reading it could reach outside it (exit code 2). */
export class UnsafeBundleError extends UsageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnsafeBundleError';
  }
}
