// The sandbox's choices, apart from sandbox.ts: the CLI checks them before it loads the builder.

/**
 * How RUN commands are isolated. `bwrap` (the default): bubblewrap shows them the host
 * read-only, with only the stage's rootfs (their working directory) writable, a private
 * /tmp, /dev and /proc, and their own PID namespace. `none`: they run as plain child
 * processes of sealbuild, still in the rootfs and with a clean environment.
 */
export type Isolation = 'bwrap' | 'none';
export const ISOLATIONS: readonly Isolation[] = ['bwrap', 'none'];

/** `host` shares the build host's network; `none` gives the command only a loopback device. */
export type NetworkMode = 'host' | 'none';
export const NETWORK_MODES: readonly NetworkMode[] = ['host', 'none'];

export interface SandboxOptions {
  isolation: Isolation;
  network: NetworkMode;
}
