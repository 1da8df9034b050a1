/** Tests use the same software-TPM launcher as `keylime-ts demo`. */
export { startSwtpm, freePort, type Swtpm, type SwtpmOptions } from '../../src/tpm/swtpm.js';
