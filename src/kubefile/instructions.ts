import type { SourcePosition } from '../util/errors.js';

declare const unexpanded: unique symbol;

/**
 * A word as written in the Kubefile, still holding its quotes and `$VAR` references.
 * Expansion (kubefile/expand.ts) turns it into its value once the build knows the
 * variables in scope, exactly as docker's shell lexer does for ENV/COPY/LABEL words.
 * Elements of a JSON array form are stored re-quoted so that expansion gives them back
 * literally (with `$VAR` still expanded, as docker does).
 * Words always use backslash escapes: under `# escape=\`` the parser rewrites them, so
 * expansion never needs to know the file's escape character.
 *
 * At run time a Word is the string as written; to the compiler it is not a string at all, so
 * a Word passed where a value is expected does not compile: expandInstruction (expanded.ts)
 * or expandWord gives the value, writtenWord the text for a message.
 */
export type Word = { readonly [unexpanded]: 'an unexpanded Kubefile word' };

/** The text as a Word: the parser's words, or text that is expanded as one (an image reference found in a manifest). */
export function asWord(written: string): Word {
  return written as unknown as Word;
}

/** A Word as written (quotes and `$` kept), for messages and history. */
export function writtenWord(word: Word): string {
  return word as unknown as string;
}

export interface KeyValue {
  key: Word;
  value: Word;
}

interface Base {
  /** Where the instruction keyword starts. */
  pos: SourcePosition;
  /** The instruction's full original text (continuation lines joined), for history entries. */
  text: string;
}

export interface FromInstruction extends Base {
  kind: 'FROM';
  image: Word;
  alias?: string;
  platform?: Word;
}
export interface ArgInstruction extends Base {
  kind: 'ARG';
  /** ARG a=1 b declares several; each with an optional default. */
  args: { name: string; defaultValue?: Word }[];
}
export interface EnvInstruction extends Base {
  kind: 'ENV';
  pairs: KeyValue[];
}
export interface LabelInstruction extends Base {
  kind: 'LABEL';
  pairs: KeyValue[];
}
export interface MaintainerInstruction extends Base {
  kind: 'MAINTAINER';
  name: Word;
}
export interface CopyInstruction extends Base {
  kind: 'COPY';
  sources: Word[];
  dest: Word;
  /** Checked to be 3-4 octal digits by the parser. */
  chmod?: string;
  /** docker expands `$VAR` in it. */
  chown?: Word;
  /** A stage name or an image. */
  from?: Word;
}
export interface AddInstruction extends Base {
  kind: 'ADD';
  sources: Word[];
  dest: Word;
  /** Checked to be 3-4 octal digits by the parser. */
  chmod?: string;
  /** docker expands `$VAR` in it. */
  chown?: Word;
  /** `--checksum=sha256:<hex>` for URL sources; checked once expanded when it holds `$`. */
  checksum?: Word;
}
export interface RunInstruction extends Base {
  kind: 'RUN';
  /** Exec form (JSON array) gives argv; shell form gives one string for `/bin/sh -c`. */
  form: 'exec' | 'shell';
  args: string[];
}
/** Exec form (a JSON array) or shell form (one string run through `/bin/sh -c`). */
export interface CommandLine {
  form: 'exec' | 'shell';
  args: string[];
}
export interface CmdInstruction extends Base, CommandLine {
  /**
   * docker's CMD (the image config's Cmd, which sealos runs at install) and sealer's
   * deprecated CMD, whose raw text (`command`) sealer runs at install.
   */
  kind: 'CMD';
  command: string;
}
export interface EntrypointInstruction extends Base, CommandLine {
  kind: 'ENTRYPOINT';
}
export interface UserInstruction extends Base {
  kind: 'USER';
  user: Word;
}
export interface WorkdirInstruction extends Base {
  kind: 'WORKDIR';
  path: Word;
}
export interface ExposeInstruction extends Base {
  kind: 'EXPOSE';
  /** `port[-port][/protocol]` each, checked once expanded. */
  ports: Word[];
}
export interface VolumeInstruction extends Base {
  kind: 'VOLUME';
  paths: Word[];
}
export interface StopSignalInstruction extends Base {
  kind: 'STOPSIGNAL';
  signal: Word;
}
export interface ShellInstruction extends Base {
  kind: 'SHELL';
  shell: string[];
}
/** docker's HealthConfig: durations in nanoseconds, as the image config stores them. */
export interface HealthcheckInstruction extends Base {
  kind: 'HEALTHCHECK';
  /** `["NONE"]`, `["CMD", exe, args...]` or `["CMD-SHELL", command]`. */
  test: string[];
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}
export interface OnbuildInstruction extends Base {
  kind: 'ONBUILD';
  /** The instruction to run when an image is built FROM this one, as written. */
  trigger: string;
}
export interface CmdsInstruction extends Base {
  /** Raw commands run at install time, after the cluster is up. */
  kind: 'CMDS';
  commands: string[];
}
export interface LaunchInstruction extends Base {
  /** Names of APPs to launch at install time. */
  kind: 'LAUNCH';
  apps: string[];
}
export interface AppInstruction extends Base {
  /** APP, and CNI/CSI which are APPs that also set a cluster label. */
  kind: 'APP' | 'CNI' | 'CSI';
  name: string;
  /** `local://relative/path` or `http(s)://url`, one or more. */
  sources: Word[];
}
export interface AppCmdsInstruction extends Base {
  kind: 'APPCMDS';
  name: string;
  commands: string[];
}
export interface AppEnvInstruction extends Base {
  kind: 'APPENV';
  name: string;
  pairs: KeyValue[];
}
export interface KubeVersionInstruction extends Base {
  kind: 'KUBEVERSION';
  version: Word;
}

export type Instruction =
  | FromInstruction
  | ArgInstruction
  | EnvInstruction
  | LabelInstruction
  | MaintainerInstruction
  | CopyInstruction
  | AddInstruction
  | RunInstruction
  | CmdInstruction
  | CmdsInstruction
  | LaunchInstruction
  | AppInstruction
  | AppCmdsInstruction
  | AppEnvInstruction
  | KubeVersionInstruction
  | EntrypointInstruction
  | UserInstruction
  | WorkdirInstruction
  | ExposeInstruction
  | VolumeInstruction
  | StopSignalInstruction
  | ShellInstruction
  | HealthcheckInstruction
  | OnbuildInstruction;

export type InstructionKind = Instruction['kind'];

/**
 * Every keyword a Kubefile may use: sealer's set (build/kubefile/command/command.go) and the
 * rest of the Dockerfile set that buildah, and so sealos, accepts and that sets a field of the
 * image config.
 */
export const SUPPORTED_INSTRUCTIONS = [
  'FROM', 'ARG', 'ENV', 'LABEL', 'MAINTAINER', 'COPY', 'ADD', 'RUN', 'CMD', 'CMDS', 'LAUNCH',
  'APP', 'APPCMDS', 'APPENV', 'CNI', 'CSI', 'KUBEVERSION',
  'ENTRYPOINT', 'USER', 'WORKDIR', 'EXPOSE', 'VOLUME', 'STOPSIGNAL', 'SHELL', 'HEALTHCHECK', 'ONBUILD',
] as const satisfies readonly InstructionKind[];

/** A parsed Kubefile: the global ARGs before the first FROM, then the stages. */
export interface Kubefile {
  file: string;
  /** ARG instructions that come before the first FROM (visible to FROM lines). */
  globalArgs: ArgInstruction[];
  stages: Stage[];
}

export interface Stage {
  index: number;
  from: FromInstruction;
  /** Every instruction after FROM up to the next FROM. */
  instructions: Exclude<Instruction, FromInstruction>[];
}

/** How each instruction is written, for the hint of a syntax error. */
export const USAGE: Record<InstructionKind, string> = {
  FROM: 'FROM [--platform=<platform>] <image> [AS <name>]',
  ARG: 'ARG <name>[=<default>] ...',
  ENV: 'ENV <key>=<value> ...',
  LABEL: 'LABEL <key>=<value> ...',
  MAINTAINER: 'MAINTAINER <name>',
  COPY: 'COPY [--chmod=<mode>] [--chown=<user>] [--from=<stage>] <src>... <dest>',
  ADD: 'ADD [--chmod=<mode>] [--chown=<user>] [--checksum=sha256:<hex>] <src>... <dest>',
  RUN: 'RUN <command>, or RUN ["executable", "arg", ...]',
  CMD: 'CMD ["executable", "arg", ...], or CMD <command>',
  CMDS: 'CMDS ["command", ...]',
  LAUNCH: 'LAUNCH ["app", ...]',
  APP: 'APP <name> local://<path>|https://<url> ...',
  CNI: 'CNI <name> local://<path>|https://<url> ...',
  CSI: 'CSI <name> local://<path>|https://<url> ...',
  APPCMDS: 'APPCMDS <name> ["command", ...]',
  APPENV: 'APPENV <name> <key>=<value> ...',
  KUBEVERSION: 'KUBEVERSION <version>',
  ENTRYPOINT: 'ENTRYPOINT ["executable", "arg", ...], or ENTRYPOINT <command>',
  USER: 'USER <user>[:<group>]',
  WORKDIR: 'WORKDIR <path>',
  EXPOSE: 'EXPOSE <port>[/<protocol>] ...',
  VOLUME: 'VOLUME <path> ..., or VOLUME ["<path>", ...]',
  STOPSIGNAL: 'STOPSIGNAL <signal>',
  SHELL: 'SHELL ["executable", "arg", ...]',
  HEALTHCHECK: 'HEALTHCHECK [--interval=<duration>] [--timeout=<duration>] [--start-period=<duration>] [--start-interval=<duration>] [--retries=<n>] CMD <command>, or HEALTHCHECK NONE',
  ONBUILD: 'ONBUILD <instruction>',
};

export function usage(kind: InstructionKind): string {
  return `usage: ${USAGE[kind]}`;
}
