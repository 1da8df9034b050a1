/** Measured boot: UEFI event log parsing, PCR replay and Keylime's refstate policies. Pure: no I/O. */
export { parseEventLog, bankName } from './parser.js';
export { replayEventLog, bootAggregates, extend, type PcrReplay, type BankReplay } from './replay.js';
export {
  compareReplayWithQuote,
  measuredBootPcrsToCheck,
  stripLeadingZeros,
  MEASURED_BOOT_PCRS,
} from './compare.js';
export { checkMeasuredBoot, decodeMbMeasurementList, type MeasuredBootInput, type MeasuredBootResult } from './measuredBoot.js';
export { MbEventIds, type MbFailureEvent } from './failures.js';
export { mbPolicy, MB_POLICY_NAMES, type MbPolicy } from './policy/index.js';
export { evaluateExamplePolicy, EXAMPLE_RELEVANT_PCRS, type ExampleOptions } from './policy/example.js';
export { parseExampleRefstate, RefstateError, type ExampleRefstate } from './policy/refstate.js';
export { createMbRefstate, secureBootEnabled, type CreateRefstateOptions, type CreatedRefstate } from './policy/createRefstate.js';
export { eventLogToJson, type EventLogJson } from './render.js';
export { describeEvent, eventSubject } from './describe.js';
export { formatEventLog, formatEvent, formatReplay } from './text.js';
export { decodeDevicePath, isFirmwareVolumeApp } from './devicePath.js';
export { formatGuid, guidName, Guids } from './guid.js';
export { certificateSummary, type CertificateSummary } from './certificate.js';
export { EventType, eventTypeName } from './eventTypes.js';
export type * from './types.js';
