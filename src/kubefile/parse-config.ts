import { KubefileError } from '../util/errors.js';
import { asWord, usage, type Instruction, type InstructionKind, type Word } from './instructions.js';
import { command, execForm, fail, kindOf, positionAt, requiredExecForm, requote, restWord, words, type Ctx } from './arguments.js';
import { HEALTHCHECK_DURATIONS, flagsOf, goDuration } from './flags.js';
import { skipBlanks } from './lexer.js';

/*
 * The Dockerfile instructions that set image config fields (docker's set beyond sealer's):
 * CMD, ENTRYPOINT, USER, WORKDIR, EXPOSE, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD.
 */

/** CMD/ENTRYPOINT: exec form when the arguments are a JSON array of strings, else shell form. */
function commandLine(ctx: Ctx): { form: 'exec' | 'shell'; args: string[] } {
  const exec = execForm(ctx);
  return exec === undefined ? { form: 'shell', args: [command(ctx)] } : { form: 'exec', args: exec.map((e) => e.value) };
}

/** One word (USER, WORKDIR, STOPSIGNAL): the rest of the line, blanks inside kept as docker does. */
function single(ctx: Ctx, what: string): Word {
  const word = restWord(ctx, ctx.args);
  if (word === undefined) throw fail(ctx.base.pos, `${ctx.kind} needs ${what}`, ctx);
  return asWord(word.word);
}

/** EXPOSE/VOLUME: words, or (VOLUME) a JSON array whose elements still expand `$`. */
function list(ctx: Ctx, what: string): Word[] {
  const all = (ctx.kind === 'VOLUME' ? execForm(ctx)?.map((e) => requote(e.value)) : undefined) ?? words(ctx).map((t) => asWord(t.word));
  if (all.length === 0) throw fail(ctx.base.pos, `${ctx.kind} needs at least one ${what}`, ctx);
  return all;
}

function parseHealthcheck(ctx: Ctx): Instruction {
  const [type, ...rest] = words(ctx);
  if (type === undefined) throw fail(ctx.base.pos, 'HEALTHCHECK needs CMD <command> or NONE', ctx);
  const keyword = type.word.toUpperCase();
  if (keyword === 'NONE') {
    if (rest.length > 0) throw fail(rest[0]!.pos, 'HEALTHCHECK NONE takes no arguments', ctx);
    return { kind: 'HEALTHCHECK', ...ctx.base, test: ['NONE'] };
  }
  if (keyword !== 'CMD') throw fail(type.pos, `expected CMD or NONE after HEALTHCHECK, found "${type.word}"`, ctx);
  const exec = execForm(ctx, type.end);
  const shell = ctx.line.text.slice(type.end).trim();
  if (exec?.length === 0 || shell === '') throw fail(type.pos, 'HEALTHCHECK CMD needs a command', ctx);
  const test = exec === undefined ? ['CMD-SHELL', shell] : ['CMD', ...exec.map((e) => e.value)];
  const flags = flagsOf('HEALTHCHECK', ctx.flags);
  const durations: Record<string, number> = {};
  for (const name of HEALTHCHECK_DURATIONS) {
    const flag = flags[name];
    const value = flag === undefined ? 0 : goDuration(flag.word, flag.pos, `--${name}`);
    // Zero means "the default" in docker's HealthConfig and is not written.
    if (value !== 0) durations[name.replace(/-(\w)/, (_, c: string) => c.toUpperCase())] = value;
  }
  const retries = Number(flags.retries?.word ?? 0);
  return { kind: 'HEALTHCHECK', ...ctx.base, test, ...durations, ...(retries !== 0 ? { retries } : {}) };
}

/** Instructions docker refuses as an ONBUILD trigger. */
const NOT_TRIGGERS = ['ONBUILD', 'FROM', 'MAINTAINER'];

function parseOnbuild(ctx: Ctx): Instruction {
  const trigger = ctx.line.text.slice(ctx.args).trim();
  const keyword = /^\S+/.exec(trigger)?.[0]?.toUpperCase();
  if (keyword === undefined) throw fail(ctx.base.pos, 'ONBUILD needs an instruction', ctx);
  const pos = positionAt(ctx, skipBlanks(ctx.line.text, ctx.args));
  if (NOT_TRIGGERS.includes(keyword)) throw new KubefileError(pos, `${keyword} is not allowed as an ONBUILD trigger`, usage('ONBUILD'));
  kindOf(keyword, pos);
  return { kind: 'ONBUILD', ...ctx.base, trigger };
}

type ConfigKind = 'CMD' | 'ENTRYPOINT' | 'USER' | 'WORKDIR' | 'EXPOSE' | 'VOLUME' | 'STOPSIGNAL' | 'SHELL' | 'HEALTHCHECK' | 'ONBUILD';

export const CONFIG_PARSERS: Record<ConfigKind, (ctx: Ctx) => Instruction> & Partial<Record<InstructionKind, (ctx: Ctx) => Instruction>> = {
  // docker's CMD, and sealer's deprecated one whose raw text (`command`) sealer runs at install.
  CMD: (ctx) => ({ kind: 'CMD', ...ctx.base, command: command(ctx), ...commandLine(ctx) }),
  ENTRYPOINT: (ctx) => ({ kind: 'ENTRYPOINT', ...ctx.base, ...commandLine(ctx) }),
  USER: (ctx) => ({ kind: 'USER', ...ctx.base, user: single(ctx, 'a user') }),
  WORKDIR: (ctx) => ({ kind: 'WORKDIR', ...ctx.base, path: single(ctx, 'a path') }),
  EXPOSE: (ctx) => ({ kind: 'EXPOSE', ...ctx.base, ports: list(ctx, 'port') }),
  VOLUME: (ctx) => ({ kind: 'VOLUME', ...ctx.base, paths: list(ctx, 'path') }),
  STOPSIGNAL: (ctx) => ({ kind: 'STOPSIGNAL', ...ctx.base, signal: single(ctx, 'a signal') }),
  SHELL: (ctx) => ({ kind: 'SHELL', ...ctx.base, shell: requiredExecForm(ctx, ctx.args, 'argument').map((e) => e.value) }),
  HEALTHCHECK: parseHealthcheck,
  ONBUILD: parseOnbuild,
};
