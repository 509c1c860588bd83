// Learning-rate schedules, per optimizer step. A pure function of the step number, so a resumed
// run needs no schedule state beyond the step count.

export type ScheduleName = 'cosine' | 'step' | 'constant';

export interface ScheduleOptions {
  name: ScheduleName;
  /** Peak learning rate (after warm-up). */
  lr: number;
  totalSteps: number;
  /** Linear warm-up from lr / warmupSteps to lr over these first steps. */
  warmupSteps?: number;
  /** 'step': multiply by gamma every stepSize steps (default: a third of the steps after warm-up). */
  stepSize?: number;
  gamma?: number;
  /** 'cosine': the floor it decays to. */
  minLr?: number;
}

/** The learning rate of optimizer step `step` (0-based). */
export function learningRate(step: number, o: ScheduleOptions): number {
  const warm = o.warmupSteps ?? 0;
  if (step < warm) return (o.lr * (step + 1)) / warm;
  const t = step - warm;
  const span = Math.max(1, o.totalSteps - warm);
  switch (o.name) {
    case 'constant':
      return o.lr;
    case 'step':
      return o.lr * (o.gamma ?? 0.1) ** Math.floor(t / Math.max(1, o.stepSize ?? Math.ceil(span / 3)));
    case 'cosine': {
      const min = o.minLr ?? 0;
      return min + ((o.lr - min) * (1 + Math.cos((Math.PI * Math.min(t, span)) / span))) / 2;
    }
    default:
      throw new RangeError(`Unsupported schedule: "${String(o.name)}". Should be one of: cosine, step, constant`);
  }
}
