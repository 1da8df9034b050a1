/**
 * IP parsing as privacyIDEA's netaddr does it (strict inet_pton rules) and its text
 * form (inet_ntop), so `ip` in machine listings and the `?ip=` filter compare the same way.
 */

export interface IpAddress {
  version: 4 | 6;
  /** Normalised text: dotted quad, or compressed lowercase IPv6 (glibc inet_ntop). */
  text: string;
}

export function parseIp(text: string): IpAddress | undefined {
  const v4 = parseIpv4(text);
  if (v4) return { version: 4, text: v4.join('.') };
  const v6 = parseIpv6(text);
  if (v6) return { version: 6, text: formatIpv6(v6) };
  return undefined;
}

/** inet_pton(AF_INET): exactly four decimal parts 0..255 without leading zeros. */
function parseIpv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const part of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    bytes.push(n);
  }
  return bytes;
}

/** inet_pton(AF_INET6): 1..4 hex digits per group, one `::`, an optional trailing IPv4. */
function parseIpv6(text: string): number[] | undefined {
  if (text.length > 45 || text.length < 2) return undefined;
  const doubleColon = text.indexOf('::');
  if (doubleColon >= 0 && text.indexOf('::', doubleColon + 1) >= 0) return undefined;
  const head = doubleColon >= 0 ? text.slice(0, doubleColon) : text;
  const tail = doubleColon >= 0 ? text.slice(doubleColon + 2) : '';
  const headWords = parseGroups(head, doubleColon < 0);
  const tailWords = doubleColon >= 0 ? parseGroups(tail, true) : [];
  if (!headWords || !tailWords) return undefined;
  if (doubleColon >= 0 && head.includes('.')) return undefined;
  const total = headWords.length + tailWords.length;
  if (doubleColon < 0) return total === 8 ? headWords : undefined;
  if (total > 7) return undefined;
  return [...headWords, ...new Array<number>(8 - total).fill(0), ...tailWords];
}

function parseGroups(text: string, allowIpv4Tail: boolean): number[] | undefined {
  if (text === '') return [];
  const groups = text.split(':');
  const words: number[] = [];
  for (let i = 0; i < groups.length; i++) {
    const group = groups[i]!;
    if (i === groups.length - 1 && allowIpv4Tail && group.includes('.')) {
      const v4 = parseIpv4(group);
      if (!v4) return undefined;
      words.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      continue;
    }
    if (!/^[0-9A-Fa-f]{1,4}$/.test(group)) return undefined;
    words.push(parseInt(group, 16));
  }
  return words;
}

/** glibc inet_ntop6: longest zero run (≥ 2 words, first on ties) becomes `::`; IPv4 tail for ::ffff:0:0/96 and ::/96. */
function formatIpv6(words: number[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) bestStart = -1;
  const embedsIpv4 = bestStart === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff));
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestStart >= 0 && i >= bestStart && i < bestStart + bestLength) {
      if (i === bestStart) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && embedsIpv4) {
      out += `${words[6]! >> 8}.${words[6]! & 0xff}.${words[7]! >> 8}.${words[7]! & 0xff}`;
      break;
    }
    out += words[i]!.toString(16);
  }
  if (bestStart >= 0 && bestStart + bestLength === 8) out += ':';
  return out;
}
