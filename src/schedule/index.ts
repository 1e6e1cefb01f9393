/**
 * Tasks with dependencies on a fixed set of connections (bronze files, models, data tests, rule
 * counts): `runScheduled` runs each task as soon as what it depends on is done, on the first free
 * connection; `criticalPathFirst` orders them so the longest remaining chain starts first.
 */
export { criticalPathFirst, runScheduled, type ScheduledTask, type ScheduleOptions } from './schedule.ts';
