/** API versions the registrar and verifier serve (DESIGN: /v2.0 .. /v2.5 on the same handlers). */
export const SERVER_API_VERSIONS = ['2.0', '2.1', '2.2', '2.3', '2.4', '2.5'] as const;
export const SERVER_CURRENT_VERSION = '2.5';

/** Versions our agent really implements. */
export const AGENT_API_VERSIONS = ['2.1', '2.2'] as const;

/** Numeric compare of "major.minor" strings. */
export function compareVersions(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am - bm || an - bn;
}

/** Keylime's negotiate(): highest version both sides support, or undefined. */
export function negotiateVersion(remote: readonly string[] | string, local: readonly string[]): string | undefined {
  const theirs = new Set(typeof remote === 'string' ? [remote] : remote);
  return local.filter((v) => theirs.has(v)).sort(compareVersions).at(-1);
}

const versionPrefix = /^\/v(\d+(?:\.\d+)?)(?:\/|$|\?)/;

/** The version literal in a request path ("2.1" for /v2.1/agents), or undefined. */
export function versionInPath(url: string): string | undefined {
  return versionPrefix.exec(url)?.[1];
}
