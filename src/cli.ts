import { buildProgram } from './program.js';

// `keylime-ts ... | head` closes stdout early; that is the reader's choice, not an error.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

await buildProgram().parseAsync(process.argv);
