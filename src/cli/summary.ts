import { Command } from 'commander';
import { MobileNetV2 } from '../models/mobilenetv2.js';
import { summary } from '../models/summary.js';
import { addModelOptions, runCommand, type ModelFlags } from './common.js';

export function summaryCommand(): Command {
  const cmd = new Command('summary').description("print torchsummary's layer table, parameter totals and multiply-adds (default: the seed's MobileNetV2x100 at 3x224x224)");
  addModelOptions(cmd).action((flags: ModelFlags) =>
    runCommand(async () => {
      const model = new MobileNetV2({ alpha: flags.alpha, numClasses: flags.numClasses, lastChannel: flags.lastChannel ?? 'seed' });
      const size = flags.inputSize ?? 224;
      process.stdout.write(summary(model, [3, size, size]).text);
    }),
  );
  return cmd;
}
