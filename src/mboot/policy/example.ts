import { createHash } from 'node:crypto';
import { isFirmwareVolumeApp } from '../devicePath.js';
import { EventType as T, eventTypeName } from '../eventTypes.js';
import { Guids, guidSpellings } from '../guid.js';
import type { EfiVariable, EventLog, LogEvent, SignatureList, VariableValue } from '../types.js';
import { describeEvent } from '../describe.js';
import { accept, and, each, field, matches, once, or, stringEqual, tuple, type Check } from './checks.js';
import { parseExampleRefstate, RefstateError, type DigestSpec, type ExampleRefstate, type SignatureSpec } from './refstate.js';

export interface ExampleOptions {
  /**
   * The `example-relaxed` variant: accepts what TCG-conformant firmware logs but
   * Keylime's `example` rejects, while still pinning every digest that reaches PCR 0:
   * further EV_NO_ACTION events (never extended), PCR 0 firmware events besides blobs
   * (checked as platform firmware, in order), vendor configuration variables in PCR 1,
   * several dbx signature lists (their union must hold the refstate's), and
   * firmware-volume applications in PCR 4 (not counted as shim/grub/kernel).
   */
  relaxed?: boolean;
}

/** The PCRs the example policy looks at; replay is compared for these only. */
export const EXAMPLE_RELEVANT_PCRS: ReadonlySet<number> = new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 14]);

/** Hashes Keylime precomputes for the separator and EV_EFI_ACTION digest checks. */
const ALGS: [string, string][] = [['sha1', 'sha1'], ['sha256', 'sha256'], ['sha384', 'sha384'], ['sha512', 'sha512'], ['sm3_256', 'sm3']];

/** PCR 0 events that `example-relaxed` checks as platform firmware. */
const RELAXED_PCR0_FIRMWARE = [
  T.EV_S_CRTM_CONTENTS, T.EV_POST_CODE, T.EV_NONHOST_CODE, T.EV_NONHOST_CONFIG, T.EV_NONHOST_INFO, T.EV_EFI_HCRTM_EVENT,
];

interface Stash {
  s_crtms: LogEvent[];
  platform_firmware_blobs: LogEvent[];
  bsas: LogEvent[];
  vmlinuz: LogEvent[];
  ipl9s: LogEvent[];
  kernel_cmdlines: string[];
}

type DigestSet = Map<string, Set<string>>;

/**
 * Evaluates Keylime's `example` measured-boot policy: '' when the log is acceptable,
 * otherwise the first reason (`<event> <why>` for a per-event failure, or the delayed
 * kernel / S-CRTM and BIOS checks).
 */
export function evaluateExamplePolicy(log: EventLog, refstate: unknown, options: ExampleOptions = {}): string {
  let ref: ExampleRefstate;
  try {
    ref = parseExampleRefstate(refstate);
  } catch (e) {
    if (e instanceof RefstateError) return `policy evaluation failed: ${e.message}`;
    throw e;
  }
  const stash: Stash = { s_crtms: [], platform_firmware_blobs: [], bsas: [], vmlinuz: [], ipl9s: [], kernel_cmdlines: [] };
  const dispatch = eventChecks(ref, stash, options.relaxed === true);
  for (const e of log.events) {
    const check = dispatch.get(key(e.pcrIndex, e.typeName));
    const why = check ? check(e) : `has unexpected ('PCRIndex', 'EventType') combination (${e.pcrIndex}, '${e.typeName}')`;
    if (why) return `${describeEvent(e)} ${why}`;
  }
  return finalChecks(ref)(stash);
}

function key(pcr: number, typeName: string): string {
  return `${pcr}:${typeName}`;
}

function push<S>(list: S[]): Check<S> {
  return (s) => {
    list.push(s);
    return '';
  };
}

// ---- digests -------------------------------------------------------------------------

function digestSet(specs: DigestSpec[]): DigestSet {
  const set: DigestSet = new Map();
  for (const spec of specs) {
    for (const [alg, hex] of Object.entries(spec)) {
      if (!set.has(alg)) set.set(alg, new Set());
      set.get(alg)!.add(hex);
    }
  }
  return set;
}

function showDigestSet(set: DigestSet): string {
  const parts = [...set].map(([alg, values]) => `${alg}: [${[...values].map((v) => `0x${v}`).join(', ')}]`);
  return `{${parts.join(', ')}}`;
}

/** Passes if any digest of the event, in an algorithm the good set names, is in the set. */
function digestsCheck(specs: DigestSpec[]): Check<LogEvent> {
  const good = digestSet(specs);
  return (e) => {
    for (const d of e.digests) {
      if (good.get(d.alg)?.has(d.digest.toString('hex'))) return '';
    }
    const have = e.digests.filter((d) => good.has(d.alg)).map((d) => `${d.alg} 0x${d.digest.toString('hex')}`);
    return `has no digest approved by ${showDigestSet(good)}${have.length ? ` (it has ${have.join(', ')})` : ''}`;
  };
}

function sha256Check(hex: string): Check<LogEvent> {
  return digestsCheck([{ sha256: hex }]);
}

/** alg → hash of bytes, for every algorithm Keylime knows; computed once per constant. */
const fixedDigests = new Map<string, DigestSpec>();
function digestsOf(bytes: Buffer): DigestSpec {
  const k = bytes.toString('hex');
  let d = fixedDigests.get(k);
  if (!d) {
    d = {};
    for (const [alg, node] of ALGS) d[alg] = createHash(node).update(bytes).digest('hex');
    fixedDigests.set(k, d);
  }
  return d;
}

/** The event's data is `value` and its digests are the hashes of exactly those bytes. */
function fixedContent(value: string, eventText: (e: LogEvent) => string | undefined, bytes: Buffer): Check<LogEvent> {
  return and(field('Event', eventText, stringEqual(value)), digestsCheck([digestsOf(bytes)]));
}

function separatorCheck(): Check<LogEvent> {
  // tpm2-tools prints data lowercase, so the "FFFFFFFF" alternative never matches, as in Keylime.
  const hexText = (e: LogEvent) => e.data.toString('hex');
  return or(...['00000000', 'FFFFFFFF'].map((v) => fixedContent(v, hexText, Buffer.from(v, 'hex'))));
}

const EFI_ACTIONS: Record<number, string[]> = {
  1: ['Entering ROM Based Setup'],
  4: ['Calling EFI Application from Boot Option', 'Returning from EFI Application from Boot Option'],
  5: ['Exit Boot Services Invocation', 'Exit Boot Services Returned with Failure', 'Exit Boot Services Returned with Success'],
};

function efiActionCheck(pcr: number): Check<LogEvent> {
  const text = (e: LogEvent) => (e.content.kind === 'text' ? e.content.text : undefined);
  return or(...EFI_ACTIONS[pcr]!.map((v) => fixedContent(v, text, Buffer.from(v, 'latin1'))));
}

// ---- strings -------------------------------------------------------------------------

const iplString = (e: LogEvent) => (e.content.kind === 'ipl' ? e.content.text : undefined);

/** Python fullmatch of `.*`-style patterns: `.` is anything but a newline. */
function fullmatch(pattern: string, dotAll = false): Check<string> {
  const js = dotAll ? pattern : pattern.replaceAll('.*', '[^\\n]*');
  return matches(new RegExp(`^(?:${js})$`, dotAll ? 's' : ''), pattern);
}

// ---- signature databases -------------------------------------------------------------

const X509 = guidSpellings(Guids.EFI_CERT_X509);
const SHA256 = guidSpellings(Guids.EFI_CERT_SHA256);

function sigKey(owner: string, dataHex: string): string {
  return `${owner}/${dataHex}`;
}

function showSignature(owner: string, data: Buffer): string {
  const what = data.length > 64 ? `data sha256 ${createHash('sha256').update(data).digest('hex')}` : `data 0x${data.toString('hex')}`;
  return `{SignatureOwner: ${owner}, ${what}}`;
}

/** Applies a check to the signature lists of a PK/KEK/db/dbx value. */
function onLists(check: Check<SignatureList[]>): Check<VariableValue> {
  return (v) => (v.kind === 'signature_lists' ? check(v.lists) : 'is not a list of signature lists');
}

function typeIn(types: ReadonlySet<string>[], names: string): Check<SignatureList> {
  const all = new Set(types.flatMap((t) => [...t]));
  return field('SignatureType', (l) => l.signatureType, (t) => (all.has(t) ? '' : `${t} is not ${names}`));
}

/** Every list has one of the given types and every key in it is in the refstate list. */
function keySubset(allowed: SignatureSpec[], types: ReadonlySet<string>[], names: string): Check<VariableValue> {
  const set = new Set(allowed.map((s) => sigKey(s.owner, s.data)));
  const keys = each<{ owner: string; data: Buffer }>((k) =>
    set.has(sigKey(k.owner, k.data.toString('hex'))) ? '' : `${showSignature(k.owner, k.data)} is not in the refstate list`,
  );
  const listCheck = and(typeIn(types, names), field('Keys', (l: SignatureList) => l.signatures, keys));
  return onLists(each(listCheck));
}

/**
 * The keys include every refstate entry: in exactly one EFI_CERT_SHA256 list (Keylime), or
 * across any number of X509/SHA256 lists (relaxed).
 */
function keySuperset(required: SignatureSpec[], relaxed: boolean): Check<VariableValue> {
  const need = new Set(required.map((s) => sigKey(s.owner, s.data)));
  const lacks = (lists: SignatureList[]) => {
    const found = new Set<string>();
    for (const l of lists) {
      for (const k of l.signatures) {
        const id = sigKey(k.owner, k.data.toString('hex'));
        if (need.has(id)) found.add(id);
      }
    }
    if (found.size === need.size) return '';
    const missing = [...need].filter((k) => !found.has(k));
    const shown = missing.slice(0, 3).map((m) => `{SignatureOwner: ${m.split('/')[0]}, SignatureData: 0x${m.split('/')[1]}}`);
    return `lacks ${missing.length} required (SignatureOwner, SignatureData) combinations: ${shown.join(', ')}${missing.length > 3 ? ', ...' : ''}`;
  };
  if (relaxed) {
    return onLists(and(each(typeIn([X509, SHA256], 'EFI_CERT_X509 or EFI_CERT_SHA256')), lacks));
  }
  const one = and(typeIn([SHA256], 'EFI_CERT_SHA256'), (l: SignatureList) => lacks([l]));
  return onLists(tuple([one]));
}

function enabledFlag(v: VariableValue): string | undefined {
  return v.kind === 'enabled' ? (v.enabled ? 'Yes' : 'No') : undefined;
}

/** Keylime's VariableDispatch: one check per (VariableName, UnicodeName), both GUID spellings. */
class VariableDispatch {
  private readonly checks = new Map<string, Check<VariableValue>>();

  set(guid: string, name: string, check: Check<VariableValue>): void {
    for (const spelling of guidSpellings(guid)) this.checks.set(`${spelling}/${name}`, check);
  }

  check(): Check<LogEvent> {
    const variable = (e: LogEvent): EfiVariable | undefined => (e.content.kind === 'efi_variable' ? e.content.variable : undefined);
    return field('Event', variable, (v) => {
      const check = this.checks.get(`${v.guid}/${v.name}`);
      if (!check) return `has unexpected ('VariableName', 'UnicodeName') combination ('${v.guid}', '${v.name}')`;
      const why = check(v.value);
      if (!why) return '';
      const decodeError = v.value.kind === 'raw' && v.value.decodeError ? ` (VariableData did not decode: ${v.value.decodeError.message})` : '';
      return `VariableData ${why}${decodeError}`;
    });
  }
}

function signatureDbCheck(allowed: SignatureSpec[] | null, types: ReadonlySet<string>[], names: string): Check<VariableValue> {
  return once(allowed === null ? accept : keySubset(allowed, types, names));
}

// ---- the dispatch table ----------------------------------------------------------------

function eventChecks(ref: ExampleRefstate, stash: Stash, relaxed: boolean): Map<string, Check<LogEvent>> {
  const d = new Map<string, Check<LogEvent>>();
  const set = (pcr: number, type: keyof typeof T, check: Check<LogEvent>) => d.set(key(pcr, type), check);

  if (relaxed) {
    // Never extended, so nothing to pin; the StartupLocality value already shapes PCR 0.
    for (let pcr = 0; pcr < 24; pcr++) set(pcr, 'EV_NO_ACTION', accept);
    for (const t of RELAXED_PCR0_FIRMWARE) d.set(key(0, eventTypeName(t)), push(stash.platform_firmware_blobs));
    set(1, 'EV_EFI_VARIABLE_DRIVER_CONFIG', accept);
  } else {
    set(0, 'EV_NO_ACTION', once(accept));
  }
  set(1, 'EV_CPU_MICROCODE', once(accept));
  set(1, 'EV_EFI_HANDOFF_TABLES', once(accept));
  set(1, 'EV_EFI_HANDOFF_TABLES2', once(accept));
  set(0, 'EV_S_CRTM_VERSION', push(stash.s_crtms));
  set(0, 'EV_EFI_PLATFORM_FIRMWARE_BLOB', push(stash.platform_firmware_blobs));
  set(0, 'EV_EFI_PLATFORM_FIRMWARE_BLOB2', push(stash.platform_firmware_blobs));

  const driverConfig = new VariableDispatch();
  const secureBoot = field('Enabled', enabledFlag, stringEqual(ref.hasSecureboot ? 'Yes' : 'No'));
  driverConfig.set(Guids.EFI_GLOBAL_VARIABLE, 'SecureBoot', secureBoot);
  driverConfig.set(Guids.EFI_GLOBAL_VARIABLE, 'PK', signatureDbCheck(ref.pk, [X509], 'EFI_CERT_X509'));
  driverConfig.set(Guids.EFI_GLOBAL_VARIABLE, 'KEK', signatureDbCheck(ref.kek, [X509], 'EFI_CERT_X509'));
  const dbTypes = [X509, SHA256];
  driverConfig.set(Guids.IMAGE_SECURITY_DATABASE, 'db', signatureDbCheck(ref.db, dbTypes, 'EFI_CERT_X509 or EFI_CERT_SHA256'));
  const vendorDb = signatureDbCheck(ref.vendorDb, dbTypes, 'EFI_CERT_X509 or EFI_CERT_SHA256');
  driverConfig.set(Guids.IMAGE_SECURITY_DATABASE, 'vendor_db', vendorDb);
  driverConfig.set(Guids.SHIM_LOCK, 'vendor_db', vendorDb);
  driverConfig.set(Guids.IMAGE_SECURITY_DATABASE, 'dbx', once(ref.dbx === null ? accept : keySuperset(ref.dbx, relaxed)));
  set(7, 'EV_EFI_VARIABLE_DRIVER_CONFIG', driverConfig.check());

  const authority = new VariableDispatch();
  authority.set(Guids.IMAGE_SECURITY_DATABASE, 'db', once(accept));
  authority.set(Guids.SHIM_LOCK, 'SbatLevel', once(accept));
  authority.set(Guids.SHIM_LOCK, 'Shim', once(accept));
  authority.set(Guids.SHIM_LOCK, 'MokListTrusted', once(or(
    field('Enabled', enabledFlag, stringEqual('Yes')),
    field('Enabled', enabledFlag, stringEqual('No')),
  )));
  authority.set(Guids.SHIM_LOCK, 'MokListRT', once(accept));
  const vendorDbEntries = once(vendorDbAuthority(ref.vendorDb));
  authority.set(Guids.SHIM_LOCK, 'vendor_db', vendorDbEntries);
  authority.set(Guids.IMAGE_SECURITY_DATABASE, 'vendor_db', vendorDbEntries);
  set(7, 'EV_EFI_VARIABLE_AUTHORITY', authority.check());

  set(2, 'EV_EFI_BOOT_SERVICES_DRIVER', accept);
  const global = guidSpellings(Guids.EFI_GLOBAL_VARIABLE);
  set(1, 'EV_EFI_VARIABLE_BOOT', field('Event', (e) => (e.content.kind === 'efi_variable' ? e.content.variable : undefined), (v) => {
    if (!global.has(v.guid)) return `VariableName is ${v.guid} rather than ${Guids.EFI_GLOBAL_VARIABLE}`;
    return /^(?:BootOrder|Boot[0-9a-fA-F]+)$/.test(v.name) ? '' : `UnicodeName, ${v.name}, does not match BootOrder|Boot[0-9a-fA-F]+`;
  }));
  // edk2 measures up to four of these (Keylime issue 1393).
  set(1, 'EV_PLATFORM_CONFIG_FLAGS', or(once(accept), once(accept), once(accept), once(accept)));
  for (const pcr of [1, 4, 5]) set(pcr, 'EV_EFI_ACTION', efiActionCheck(pcr));
  for (let pcr = 0; pcr < 8; pcr++) set(pcr, 'EV_SEPARATOR', separatorCheck());

  const bsa = push(stash.bsas);
  set(4, 'EV_EFI_BOOT_SERVICES_APPLICATION', relaxed ? (e) => (isFirmwareApp(e) ? '' : bsa(e)) : bsa);

  const ipl = (check: Check<string>) => field('Event String', iplString, check);
  set(14, 'EV_IPL', or(
    and(ipl(stringEqual('MokList')), digestsCheck(ref.mokdig)),
    and(ipl(stringEqual('MokListX')), digestsCheck(ref.mokxdig)),
    and(ipl(stringEqual('MokListTrusted')), once(accept)),
  ));
  set(9, 'EV_IPL', or(
    ipl(fullmatch('.*/loader/entries.*')),
    ipl(fullmatch('.*/grub.*')),
    and(ipl(fullmatch('.*/vmlinuz.*')), push(stash.vmlinuz)),
    and(ipl(or(fullmatch('.*/initrd.*'), fullmatch('.*/initramfs.*'))), push(stash.ipl9s)),
  ));
  set(8, 'EV_IPL', ipl(or(
    fullmatch('grub_cmd: .*', true),
    and(fullmatch('kernel_cmdline: .*'), push(stash.kernel_cmdlines)),
  )));
  set(5, 'EV_EFI_GPT_EVENT', once(accept));
  return d;
}

function isFirmwareApp(e: LogEvent): boolean {
  return e.content.kind === 'image_load' && isFirmwareVolumeApp(e.content.image.devicePath.nodes);
}

function vendorDbAuthority(allowed: SignatureSpec[] | null): Check<VariableValue> {
  const set = new Set((allowed ?? []).map((s) => sigKey(s.owner, s.data)));
  return (v) => {
    if (v.kind !== 'signatures') return 'is not a list of signatures';
    return each<{ owner: string; data: Buffer }>((k) =>
      set.has(sigKey(k.owner, k.data.toString('hex'))) ? '' : `${showSignature(k.owner, k.data)} is not in the refstate vendor_db`,
    )(v.signatures);
  };
}

// ---- the checks after all events -------------------------------------------------------

function appLabel(names: string[]): (e: LogEvent, i: number) => string {
  return (e, i) => `${names[i] ?? 'app'}: ${describeEvent(e)}`;
}

function finalChecks(ref: ExampleRefstate): Check<Stash> {
  const kernels = ref.kernels.map((k) => {
    const bsas = ref.hasSecureboot
      ? or(
          tuple([sha256Check(k.shim), sha256Check(k.grub), sha256Check(k.kernel!)], appLabel(['shim', 'grub', 'kernel'])),
          tuple([sha256Check(k.shim), sha256Check(k.grub), sha256Check(k.kernel!), sha256Check(k.kernel!)], appLabel(['shim', 'grub', 'kernel', 'kernel'])),
        )
      : tuple([sha256Check(k.shim), sha256Check(k.grub)], appLabel(['shim', 'grub']));
    const vmlinuz = ref.hasSecureboot ? accept : sha256Check(k.vmlinuz!);
    return and<Stash>(
      field('bsas', (s) => s.bsas, bsas),
      field('ipl9s', (s) => s.ipl9s, tuple([sha256Check(k.initrd)], appLabel(['initrd']))),
      field('vmlinuz', (s) => s.vmlinuz, tuple([vmlinuz], appLabel(['vmlinuz']))),
      field('kernel_cmdlines', (s) => s.kernel_cmdlines, tuple([matches(k.cmdline, `kernel_cmdline: ${k.cmdlineSource}`)], (s) => `log has ${JSON.stringify(s)}`)),
    );
  });
  const firmware = ref.scrtmAndBios.map((a) =>
    and<Stash>(
      field('s_crtms', (s) => s.s_crtms, tuple([digestsCheck([a.scrtm])], appLabel(['S-CRTM version']))),
      field('platform_firmware_blobs', (s) => s.platform_firmware_blobs,
        tuple(a.platformFirmware.map((p) => digestsCheck([p])), (e) => `platform firmware: ${describeEvent(e)}`)),
    ),
  );
  return and(or(...kernels), or(...firmware));
}
