/** Loopback emulator of the Hugging Face Storage Bucket API and the Xet CAS, for tests and benchmarks. */
export { startHubEmulator } from './server.js';
export type {
  EndpointName,
  FaultRule,
  HubEmulator,
  HubEmulatorCounters,
  HubEmulatorOptions,
  RequestHold,
  RequestLogEntry,
  TokenGrant,
} from './types.js';
