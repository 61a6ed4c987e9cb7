import { posix } from 'node:path';
import type { Expanded } from '../kubefile/expanded.js';
import { writtenWord, type Instruction, type Word } from '../kubefile/instructions.js';
import type { ImageConfig } from '../oci/schemas.js';
import { KubefileError, type SourcePosition } from '../util/errors.js';

/**
 * The image config fields the Dockerfile set writes besides Env and Labels, under docker's
 * names. OCI's config has all but the last three; Healthcheck, OnBuild and Shell are docker's
 * (buildah keeps them only with `--format docker`), and are written as docker writes them.
 */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, Record<string, never>>;
  WorkingDir?: string;
  StopSignal?: string;
  Healthcheck?: Healthcheck;
  OnBuild?: string[];
  Shell?: string[];
}

/** docker's HealthConfig; durations in nanoseconds, zero ones left out. */
export interface Healthcheck {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The shell of shell-form CMD and ENTRYPOINT: buildah writes it whatever SHELL says. */
const SH = ['/bin/sh', '-c'];

type SettingKind = 'CMD' | 'ENTRYPOINT' | 'USER' | 'WORKDIR' | 'EXPOSE' | 'VOLUME' | 'STOPSIGNAL' | 'SHELL' | 'HEALTHCHECK' | 'ONBUILD';
export type SettingInstruction = Extract<Instruction, { kind: SettingKind }>;
type ExpandedSetting = Expanded<SettingInstruction>;

const SETTING_KINDS: readonly string[] = ['CMD', 'ENTRYPOINT', 'USER', 'WORKDIR', 'EXPOSE', 'VOLUME', 'STOPSIGNAL', 'SHELL', 'HEALTHCHECK', 'ONBUILD'] satisfies SettingKind[];

export function isSetting(ins: Instruction): ins is SettingInstruction {
  return SETTING_KINDS.includes(ins.kind);
}

/**
 * What a child inherits from its base's config: everything but the ONBUILD triggers, which
 * run in the child instead (docker and buildah clear them).
 */
export function inheritedConfig(config: ImageConfig['config'] | ContainerConfig | undefined): ContainerConfig {
  const out: ContainerConfig = {};
  const from = (config ?? {}) as Record<string, unknown>;
  for (const key of ['User', 'ExposedPorts', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'StopSignal', 'Healthcheck', 'Shell'] as const) {
    // docker writes null (and "" for User and WorkingDir) for what is not set.
    if (from[key] !== undefined && from[key] !== null && from[key] !== '') (out as Record<string, unknown>)[key] = structuredClone(from[key]);
  }
  return out;
}

/** The config's `config` object in the order buildah writes it (OCI's fields, then docker's). */
export function configObject(settings: ContainerConfig, env: ReadonlyMap<string, string>, labels: Record<string, string>): NonNullable<ImageConfig['config']> {
  const { User, ExposedPorts, Entrypoint, Cmd, Volumes, WorkingDir, StopSignal, Healthcheck, OnBuild, Shell } = settings;
  const ordered = {
    User, ExposedPorts, Env: [...env].map(([k, v]) => `${k}=${v}`), Entrypoint, Cmd, Volumes, WorkingDir, Labels: labels, StopSignal, Healthcheck, OnBuild, Shell,
  };
  return Object.fromEntries(Object.entries(ordered).filter(([, v]) => v !== undefined)) as NonNullable<ImageConfig['config']>;
}

/** The argv a RUN shell form runs: SHELL's, else `/bin/sh -c` (buildah and docker). */
export function runShell(settings: ContainerConfig): string[] {
  return settings.Shell ?? SH;
}

/**
 * Applies one stage's config instructions as buildah does: shell-form CMD and ENTRYPOINT
 * become `/bin/sh -c TEXT`, and ENTRYPOINT drops a CMD not set in the same stage.
 */
export class ConfigWriter {
  private cmdSet = false;

  constructor(readonly settings: ContainerConfig) {}

  apply(ins: Exclude<ExpandedSetting, { kind: 'WORKDIR' }>): void {
    const s = this.settings;
    switch (ins.kind) {
      case 'CMD':
        s.Cmd = ins.form === 'exec' ? ins.args : [...SH, ins.args[0]!];
        if (ins.args.length > 0) this.cmdSet = true;
        return;
      case 'ENTRYPOINT':
        if (ins.form === 'shell') s.Entrypoint = [...SH, ins.args[0]!];
        else if (ins.args.length > 0) s.Entrypoint = ins.args;
        else delete s.Entrypoint;
        if (!this.cmdSet) delete s.Cmd;
        return;
      case 'USER':
        s.User = nonEmpty(ins.user, ins.written.user, ins.pos, 'USER');
        return;
      case 'EXPOSE':
        s.ExposedPorts ??= {};
        for (const ports of ins.ports) {
          for (const port of ports.split(/\s+/).filter((p) => p !== '')) s.ExposedPorts[exposedPort(port, ins.pos)] = {};
        }
        return;
      case 'VOLUME':
        s.Volumes ??= {};
        for (const [i, path] of ins.paths.entries()) s.Volumes[nonEmpty(path, ins.written.paths[i]!, ins.pos, 'VOLUME')] = {};
        return;
      case 'STOPSIGNAL':
        s.StopSignal = stopSignal(nonEmpty(ins.signal, ins.written.signal, ins.pos, 'STOPSIGNAL'), ins.pos);
        return;
      case 'SHELL':
        s.Shell = ins.shell;
        return;
      case 'HEALTHCHECK': {
        const check: Healthcheck = { Test: ins.test };
        if (ins.interval !== undefined) check.Interval = ins.interval;
        if (ins.timeout !== undefined) check.Timeout = ins.timeout;
        if (ins.startPeriod !== undefined) check.StartPeriod = ins.startPeriod;
        if (ins.startInterval !== undefined) check.StartInterval = ins.startInterval;
        if (ins.retries !== undefined) check.Retries = ins.retries;
        s.Healthcheck = check;
        return;
      }
      case 'ONBUILD':
        s.OnBuild = [...(s.OnBuild ?? []), ins.trigger];
        return;
    }
  }

  /** WORKDIR: relative to the previous one, as in docker; returns the image path (no leading `/`). */
  workdir(ins: Extract<ExpandedSetting, { kind: 'WORKDIR' }>): string {
    const path = posix.resolve(this.settings.WorkingDir ?? '/', nonEmpty(ins.path, ins.written.path, ins.pos, 'WORKDIR'));
    this.settings.WorkingDir = path;
    return path.replace(/^\/+/, '');
  }
}

/** `value` trimmed, or an error quoting the `word` it came from when nothing is left. */
function nonEmpty(value: string, word: Word, pos: SourcePosition, kind: string): string {
  const trimmed = value.trim();
  if (trimmed === '') throw new KubefileError(pos, `${kind} is empty once expanded (${JSON.stringify(writtenWord(word))})`, `give ${kind} a value, or check the variables it uses`);
  return trimmed;
}

/** `80`, `53/udp`, `8000-8002/tcp` -> the ExposedPorts key; a range stays one key, as buildah writes it. */
function exposedPort(spec: string, pos: SourcePosition): string {
  const match = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(spec);
  const ports = match ? [Number(match[1]), Number(match[2] ?? match[1])] : [];
  if (!match || ports.some((p) => p > 65535) || ports[0]! > ports[1]!) {
    throw new KubefileError(pos, `invalid port "${spec}"`, 'write EXPOSE <port>[-<port>][/tcp|udp|sctp], e.g. EXPOSE 6443 8472/udp');
  }
  return `${match[1]}${match[2] ? `-${match[2]}` : ''}/${(match[3] ?? 'tcp').toLowerCase()}`;
}

const SIGNALS = [
  'HUP', 'INT', 'QUIT', 'ILL', 'TRAP', 'ABRT', 'IOT', 'BUS', 'FPE', 'KILL', 'USR1', 'SEGV', 'USR2', 'PIPE', 'ALRM', 'TERM', 'STKFLT',
  'CHLD', 'CONT', 'STOP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'XCPU', 'XFSZ', 'VTALRM', 'PROF', 'WINCH', 'IO', 'POLL', 'PWR', 'SYS',
];

/** A signal as docker accepts it (a number, `TERM`, `SIGTERM`, `SIGRTMIN+3`); stored as written. */
function stopSignal(value: string, pos: SourcePosition): string {
  const name = value.toUpperCase().replace(/^SIG/, '');
  const ok = (/^\d+$/.test(value) && Number(value) > 0 && Number(value) <= 64) || SIGNALS.includes(name) || /^RTM(IN|AX)([+-]\d+)?$/.test(name);
  if (!ok) throw new KubefileError(pos, `invalid STOPSIGNAL "${value}"`, 'use a signal name or number, e.g. STOPSIGNAL SIGTERM or STOPSIGNAL 15');
  return value;
}
