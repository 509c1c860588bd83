#!/usr/bin/env node
// mobilenetv2: build, inspect, run and export MobileNetV2 from the command line.

import { Command, CommanderError } from 'commander';
import { EXIT } from './errors.js';
import { installSignalHandlers } from './signals.js';
import { summaryCommand } from './summary.js';
import { predictCommand } from './predict.js';
import { runTensorCommand } from './run.js';
import { exportCommand } from './export.js';
import { embedCommand } from './embed.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { serveCommand } from './serve.js';
import { quantizeCommand } from './quantize.js';

export function program(): Command {
  const p = new Command('mobilenetv2')
    .description('MobileNetV2 for TypeScript: exact to PyTorch, run by ONNX Runtime')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  for (const cmd of [summaryCommand(), predictCommand(), runTensorCommand(), exportCommand(), embedCommand(), trainCommand(), evalCommand(), quantizeCommand(), serveCommand()]) {
    p.addCommand(cmd.exitOverride().showHelpAfterError('(run with --help for usage)'));
  }
  return p;
}

export async function main(argv = process.argv): Promise<void> {
  installSignalHandlers();
  try {
    await program().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; commander has already printed its one-line error otherwise
      process.exitCode = e.exitCode === 0 ? 0 : EXIT.USAGE;
      return;
    }
    throw e;
  }
}

await main();
