/**
 * How recent a file's ctime may be for its identity (size, times, inode) to stand for its
 * content: a file changed within this time of the moment it was read could be written again
 * in the same timestamp tick without its ctime moving (git's "racily clean" rule). Two
 * seconds: more than any filesystem's timestamp granularity (FAT's is 2 s). The stat cache
 * and the build record (build-record.ts) trust only files older than this.
 */
export const RACY_MS = 2000;
