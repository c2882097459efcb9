/** zod issues as lines like `vpnGateways[0].connections[1].localSubnets[0]: "10.16.0.5/16" has host bits set`. */
import type { z } from 'zod';

export function formatZodErrors(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const path = i.path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');
    return `${path || '(top level)'}: ${i.message}`;
  });
}
