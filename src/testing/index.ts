/**
 * `ds100-admin/testing`: the emulator for Node test runners, so that the SDK package keeps no
 * server dependency. See docs/testing.md.
 */
export { startEmulator, EmulatorControl } from '../emulator/index.ts';
export { EmulatorControlError } from '../emulator/control-client.ts';
export type {
  ClockChange, ClockState, Emulator, EmulatorInfo, EmulatorOptions, FaultInput, FaultRule, JournalEntry, JournalFilter, Seed, SeedResult,
} from '../emulator/index.ts';
