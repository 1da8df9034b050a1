import { hash } from 'node:crypto';
import { hashByName, type HashName } from './algorithms.js';
import { EVENT_INVALID_PCR_16, EVENT_MISSING_PCR_16, type AttestationEvent } from './events.js';
import { DATA_PCR } from './tpm-policy.js';

/**
 * PCR 16 after the agent's reset + extend with H(public key PEM): H(0^n || H(pem)),
 * where the PEM is the exact text the agent returned (trailing newline included).
 */
export function expectedDataPcr(pubkeyPem: string, hashAlg: HashName): string {
  const size = hashByName(hashAlg)!.size;
  const buf = Buffer.alloc(2 * size);
  hash(hashAlg, pubkeyPem, 'buffer').copy(buf, size);
  return hash(hashAlg, buf, 'hex');
}

/** Spec §5.2 3b: `missing_pcr_16` when PCR 16 was not quoted, `invalid_pcr_16` when it does not bind the key. */
export function checkDataPcr(pcrs: Readonly<Record<number, string>>, pubkeyPem: string, hashAlg: HashName): AttestationEvent | null {
  const got = pcrs[DATA_PCR];
  if (got === undefined) {
    return {
      eventId: EVENT_MISSING_PCR_16,
      recoverable: true,
      context: { message: `Data PCR ${DATA_PCR} is missing in quote, but is required` },
    };
  }
  const expected = expectedDataPcr(pubkeyPem, hashAlg);
  if (got === expected) return null;
  return { eventId: EVENT_INVALID_PCR_16, recoverable: true, context: { got, expected } };
}
