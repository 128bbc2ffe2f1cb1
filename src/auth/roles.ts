import type { Role } from '../domain/types.ts';

/**
 * What each role may do (spec section 3). Operations are grouped by kind; a route names its
 * operation and the kind decides. ReadOnly is our extension for auditors and dashboards.
 */
export type OperationKind = 'read' | 'write' | 'admin';

const allowed: Record<Role, ReadonlySet<OperationKind>> = {
  SuperAdmin: new Set(['read', 'write', 'admin']),
  HelpDeskAdmin: new Set(['read', 'write']),
  ReadOnly: new Set(['read']),
};

export function mayPerform(role: Role, kind: OperationKind): boolean {
  return allowed[role].has(kind);
}
