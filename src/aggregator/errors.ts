/** A report (or a section of one) the server will not store; its connection is closed with this reason. */
export class ReportRejectedError extends Error {
  override name = 'ReportRejectedError';
  constructor(readonly reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}
