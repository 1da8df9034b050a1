/**
 * EFI GUIDs: Data1 u32 LE, Data2 u16 LE, Data3 u16 LE, Data4 8 bytes in order, printed
 * lowercase. tpm2-tools < 5.2 printed the first three fields byte-swapped; refstates
 * written from its output carry that spelling, so policy checks accept both.
 */
export function formatGuid(buf: Buffer, offset = 0): string {
  const h = (from: number, to: number) => buf.subarray(offset + from, offset + to).toString('hex');
  const d1 = buf.readUInt32LE(offset).toString(16).padStart(8, '0');
  const d2 = buf.readUInt16LE(offset + 4).toString(16).padStart(4, '0');
  const d3 = buf.readUInt16LE(offset + 6).toString(16).padStart(4, '0');
  return `${d1}-${d2}-${d3}-${h(8, 10)}-${h(10, 16)}`;
}

/** The legacy (byte-swapped) spelling of a correctly printed GUID. */
export function swappedGuid(guid: string): string {
  const [a = '', b = '', c = '', ...rest] = guid.split('-');
  const swap = (s: string) => (s.match(/../g) ?? []).reverse().join('');
  return [swap(a), swap(b), swap(c), ...rest].join('-');
}

export const Guids = {
  EFI_GLOBAL_VARIABLE: '8be4df61-93ca-11d2-aa0d-00e098032b8c',
  IMAGE_SECURITY_DATABASE: 'd719b2cb-3d3a-4596-a3bc-dad00e67656f',
  SHIM_LOCK: '605dab50-e046-4300-abb6-3dd810dd8b23',
  EFI_CERT_X509: 'a5c059a1-94e4-4aa7-87b5-ab155c2bf072',
  EFI_CERT_SHA256: 'c1c41626-504c-4092-aca9-41f936934328',
} as const;

/** Both spellings of a GUID, for comparisons that must accept either. */
export function guidSpellings(guid: string): ReadonlySet<string> {
  let set = spellings.get(guid);
  if (!set) {
    set = new Set([guid, swappedGuid(guid)]);
    spellings.set(guid, set);
  }
  return set;
}

const spellings = new Map<string, ReadonlySet<string>>();

const NAMES = new Map<string, string>([
  ...Object.entries(Guids).map(([name, guid]) => [guid, name] as [string, string]),
  ['c12a7328-f81f-11d2-ba4b-00a0c93ec93b', 'EFI System Partition'],
  ['0fc63daf-8483-4772-8e79-3d69d8477de4', 'Linux filesystem'],
  ['e6d6d379-f507-44c2-a23c-238f2a3df928', 'Linux LVM'],
  ['0657fd6d-a4ab-43c4-84e5-0933c84b4f4f', 'Linux swap'],
  ['4f68bce3-e8cd-4db1-96e7-fbcaf984b709', 'Linux root (x86-64)'],
  ['bc13c2ff-59e6-4262-a352-b275fd6f7172', 'Linux extended boot'],
  ['ebd0a0a2-b9e5-4433-87c0-68b6b72699c7', 'Microsoft basic data'],
  ['e3c9e316-0b5c-4db8-817d-f92df00215ae', 'Microsoft reserved'],
  ['21686148-6449-6e6f-744e-656564454649', 'BIOS boot'],
  ['77fa9abd-0359-4d32-bd60-28f4e78f784b', 'Microsoft'],
]);

/** A well-known GUID's name (signature types, GPT partition types, owners), if any. */
export function guidName(guid: string): string | undefined {
  return NAMES.get(guid) ?? NAMES.get(swappedGuid(guid));
}
