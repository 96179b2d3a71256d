/** The sandbox: running a tool's component in a worker thread under its policy. */
export { ToolHost, type CallOptions, type ToolHostOptions } from './host.js';
export type { ToolBundle, ToolCallResult, ToolErrorCode } from './types.js';
