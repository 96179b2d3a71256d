/** What `dist/` was compiled from (see `source-stamp.js`). */
export function sourceStamp(dir: string): string;
/** Whether `dist/` was compiled from the sources as they are now. */
export function compiledIsCurrent(): boolean;
