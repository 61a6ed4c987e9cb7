/** Every command's name; cli/commands.ts says how to load each (a name without a loader does not compile). */
export const COMMAND_NAMES = ['build', 'images', 'inspect', 'pull', 'push', 'save', 'load', 'manifest', 'export', 'tag', 'rmi', 'prune', 'login', 'logout', 'sign', 'key', 'sbom', 'init', 'verify', 'run', 'add', 'delete', 'upgrade', 'reset', 'status', 'completion'] as const;

export type CommandName = (typeof COMMAND_NAMES)[number];

export function isCommandName(word: string): word is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(word);
}
