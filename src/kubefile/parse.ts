import { DockerfileParser, type Dockerfile, type Instruction as AstInstruction } from 'dockerfile-ast';
import { KubefileError, type SourcePosition } from '../util/errors.js';
import { withoutUrlSecrets } from '../util/redact-url.js';
import {
  type AppInstruction,
  type ArgInstruction,
  type Instruction,
  type InstructionKind,
  type KeyValue,
  type Kubefile,
  type Stage,
  type Word,
  USAGE,
  asWord,
} from './instructions.js';
import { command, execForm, fail, given, kindOf, requiredExecForm, requote, restWord, words, type Ctx, type FileContext } from './arguments.js';
import { CONFIG_PARSERS } from './parse-config.js';
import { flagsOf, readFlags } from './flags.js';
import { logicalLine, readWord, skipBlanks, type Token } from './lexer.js';

/**
 * Parses a Kubefile (sealer's instruction set, Dockerfile syntax) and checks its structure.
 * Words keep their quotes and `$` references, in backslash-escape syntax even under
 * `# escape=\``; JSON-form elements become double-quoted Words. Throws a KubefileError that
 * points at the offending keyword, argument or flag.
 */
export function parseKubefile(text: string, file: string): Kubefile {
  // A byte-order mark would shift every column of the first line by one.
  const source = text.replace(/^\uFEFF/, '');
  const dockerfile = DockerfileParser.parse(source);
  const context: FileContext = {
    file,
    lines: source.split(/\r\n|\r|\n/),
    escape: escapeCharacter(dockerfile, file),
    stageNames: new Set(),
  };
  const instructions = dockerfile.getInstructions().map((node) => parseInstruction(node, context));
  const kubefile = assemble(file, instructions);
  checkInstallInstructions(instructions);
  return kubefile;
}


function position(file: string, at: { line: number; character: number }): SourcePosition {
  return { file, line: at.line + 1, col: at.character + 1 };
}

function escapeCharacter(dockerfile: Dockerfile, file: string): string {
  const directive = dockerfile.getDirectives().find((d) => d.getName().toLowerCase() === 'escape');
  if (directive === undefined) return '\\';
  const value = directive.getValue();
  // dockerfile-ast quietly falls back to a backslash here; docker rejects the file.
  if (value !== '\\' && value !== '`') {
    throw new KubefileError(position(file, directive.getValueRange().start), `invalid escape directive "${value}"`, 'use # escape=\\ or # escape=`');
  }
  return value;
}

function parseInstruction(node: AstInstruction, file: FileContext): Instruction {
  const pos = position(file.file, node.getInstructionRange().start);
  const kind = kindOf(node.getInstruction(), pos);
  const line = logicalLine(node, file, pos);
  const { flags, next } = readFlags(kind, line, node.getInstruction().length, file.escape);
  // The text is shown and kept in the image's history: no URL's credentials or query in it.
  return PARSERS[kind]({ kind, file, line, flags, args: next, base: { pos, text: withoutUrlSecrets(line.text.trimEnd()) } });
}

/** A flag's value as a Word, when it was given. */
function flagWord(token: Token | undefined): Word | undefined {
  return token === undefined ? undefined : asWord(token.word);
}

function keyValue(ctx: Ctx, token: Token): KeyValue {
  const eq = token.word.indexOf('=');
  if (eq < 0) throw fail(token.pos, `expected <key>=<value>, found "${token.word}"`, ctx);
  if (eq === 0) throw fail(token.pos, `empty key in "${token.word}"`, ctx);
  return { key: asWord(token.word.slice(0, eq)), value: asWord(token.word.slice(eq + 1)) };
}

/** ENV/LABEL: `k=v ...`, or the legacy `k value with blanks` when the first word has no `=`. */
function keyValues(ctx: Ctx): KeyValue[] {
  const tokens = words(ctx);
  const first = tokens[0];
  if (first === undefined) throw fail(ctx.base.pos, `${ctx.kind} needs at least one <key>=<value>`, ctx);
  if (first.word.includes('=')) return tokens.map((token) => keyValue(ctx, token));
  const value = restWord(ctx, first.end);
  if (value === undefined) throw fail(first.pos, `${ctx.kind} ${first.word} needs a value`, ctx);
  return [{ key: asWord(first.word), value: asWord(value.word) }];
}

const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** An app name: it names a directory (application/apps/<name>), so no paths or quotes. */
function appName(pos: SourcePosition, name: string): string {
  if (!APP_NAME.test(name)) {
    throw new KubefileError(pos, `invalid app name "${name}"`, "an app name is letters, digits, '.', '_' and '-', starting with a letter or digit");
  }
  return name;
}

/**
 * The app name that starts APP/CNI/CSI/APPCMDS/APPENV. Only that word is read: what follows
 * may be JSON, whose quoting shell-word rules need not accept.
 */
function appNameToken(ctx: Ctx): Token {
  const start = skipBlanks(ctx.line.text, ctx.args);
  const name = start < ctx.line.text.length ? readWord(ctx.line, start, ctx.line.text.length, ctx.file.escape, true) : undefined;
  if (name === undefined) throw fail(ctx.base.pos, `${ctx.kind} needs an app name`, ctx);
  appName(name.pos, name.word);
  return name;
}

const STAGE_NAME = /^[a-z][a-z0-9_.-]*$/;

function parseFrom(ctx: Ctx): Instruction {
  const [image, as, alias, extra] = words(ctx);
  if (image === undefined) throw fail(ctx.base.pos, 'FROM needs an image', ctx);
  const from = { kind: 'FROM' as const, ...ctx.base, image: asWord(image.word), ...given({ platform: flagWord(flagsOf('FROM', ctx.flags).platform) }) };
  if (as === undefined) return from;
  if (as.word.toUpperCase() !== 'AS') throw fail(as.pos, `expected AS after the image, found "${as.word}"`, ctx);
  if (alias === undefined) throw fail(as.pos, 'AS needs a stage name', ctx);
  if (extra !== undefined) throw fail(extra.pos, `unexpected "${extra.word}" after the stage name`, ctx);
  return { ...from, alias: stageName(ctx, alias) };
}

function stageName(ctx: Ctx, alias: Token): string {
  if (!STAGE_NAME.test(alias.word)) {
    throw new KubefileError(alias.pos, `invalid stage name "${alias.word}"`, "a stage name is lowercase letters, digits, '_', '.' and '-', starting with a letter");
  }
  if (ctx.file.stageNames.has(alias.word)) {
    throw new KubefileError(alias.pos, `duplicate stage name "${alias.word}"`, 'give each FROM ... AS its own name');
  }
  ctx.file.stageNames.add(alias.word);
  return alias.word;
}

const ARG_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseArg(ctx: Ctx): Instruction {
  const tokens = words(ctx);
  if (tokens.length === 0) throw fail(ctx.base.pos, 'ARG needs a name', ctx);
  const args = tokens.map((token) => {
    const eq = token.word.indexOf('=');
    const name = eq < 0 ? token.word : token.word.slice(0, eq);
    // Only such names can be referenced as $NAME.
    if (!ARG_NAME.test(name)) throw fail(token.pos, `invalid ARG name "${name}"`, ctx);
    return eq < 0 ? { name } : { name, defaultValue: asWord(token.word.slice(eq + 1)) };
  });
  return { kind: 'ARG', ...ctx.base, args };
}

function parseMaintainer(ctx: Ctx): Instruction {
  const name = restWord(ctx, ctx.args);
  if (name === undefined) throw fail(ctx.base.pos, 'MAINTAINER needs a name', ctx);
  return { kind: 'MAINTAINER', ...ctx.base, name: asWord(name.word) };
}

/** COPY/ADD paths, shell or JSON form: sources then the destination. */
function paths(ctx: Ctx): { sources: Word[]; dest: Word } {
  const all = execForm(ctx)?.map((e) => requote(e.value)) ?? words(ctx).map((t) => asWord(t.word));
  const dest = all.pop();
  if (dest === undefined || all.length === 0) throw fail(ctx.base.pos, `${ctx.kind} needs at least one source and a destination`, ctx);
  return { sources: all, dest };
}

function parseCopy(ctx: Ctx): Instruction {
  const { chmod, chown, from } = flagsOf('COPY', ctx.flags);
  return { kind: 'COPY', ...ctx.base, ...paths(ctx), ...given({ chmod: chmod?.word, chown: flagWord(chown), from: flagWord(from) }) };
}

function parseAdd(ctx: Ctx): Instruction {
  const { chmod, chown, checksum } = flagsOf('ADD', ctx.flags);
  return { kind: 'ADD', ...ctx.base, ...paths(ctx), ...given({ chmod: chmod?.word, chown: flagWord(chown), checksum: flagWord(checksum) }) };
}

function parseRun(ctx: Ctx): Instruction {
  const exec = execForm(ctx);
  if (exec === undefined) return { kind: 'RUN', ...ctx.base, form: 'shell', args: [command(ctx)] };
  if (exec.length === 0) throw fail(ctx.base.pos, 'RUN needs a command', ctx);
  return { kind: 'RUN', ...ctx.base, form: 'exec', args: exec.map((e) => e.value) };
}

function parseCmds(ctx: Ctx): Instruction {
  // A leading "[" means the JSON form, even if malformed: better an error than one odd command.
  const json = ctx.line.text.startsWith('[', ctx.args);
  const commands = json ? requiredExecForm(ctx, ctx.args, 'command').map((e) => e.value) : [command(ctx)];
  return { kind: 'CMDS', ...ctx.base, commands };
}

function parseLaunch(ctx: Ctx): Instruction {
  const json = ctx.line.text.startsWith('[', ctx.args);
  const names = json ? requiredExecForm(ctx, ctx.args, 'app name').map((e) => ({ word: e.value, pos: e.pos })) : words(ctx);
  if (names.length === 0) throw fail(ctx.base.pos, 'LAUNCH needs at least one app name', ctx);
  return { kind: 'LAUNCH', ...ctx.base, apps: names.map((n) => appName(n.pos, n.word)) };
}

const APP_SOURCE = /^(local|https?):\/\/./;

function parseApp(ctx: Ctx): Instruction {
  const name = appNameToken(ctx);
  const sources = words(ctx, name.end);
  if (sources.length === 0) throw fail(name.pos, `${ctx.kind} ${name.word} needs at least one source`, ctx);
  for (const source of sources) {
    if (!APP_SOURCE.test(source.word)) throw fail(source.pos, `${ctx.kind} source "${source.word}" must start with local://, http:// or https://`, ctx);
  }
  return { kind: ctx.kind as AppInstruction['kind'], ...ctx.base, name: name.word, sources: sources.map((s) => asWord(s.word)) };
}

function parseAppCmds(ctx: Ctx): Instruction {
  const name = appNameToken(ctx);
  const commands = requiredExecForm(ctx, name.end, 'command').map((e) => e.value);
  return { kind: 'APPCMDS', ...ctx.base, name: name.word, commands };
}

function parseAppEnv(ctx: Ctx): Instruction {
  const name = appNameToken(ctx);
  const pairs = words(ctx, name.end).map((token) => keyValue(ctx, token));
  if (pairs.length === 0) throw fail(name.pos, `APPENV ${name.word} needs at least one <key>=<value>`, ctx);
  return { kind: 'APPENV', ...ctx.base, name: name.word, pairs };
}

function parseKubeVersion(ctx: Ctx): Instruction {
  const [version, extra] = words(ctx);
  if (version === undefined) throw fail(ctx.base.pos, 'KUBEVERSION needs a version', ctx);
  if (extra !== undefined) throw fail(extra.pos, `unexpected "${extra.word}": KUBEVERSION takes one version`, ctx);
  return { kind: 'KUBEVERSION', ...ctx.base, version: asWord(version.word) };
}

const PARSERS: Record<InstructionKind, (ctx: Ctx) => Instruction> = {
  FROM: parseFrom,
  ARG: parseArg,
  ENV: (ctx) => ({ kind: 'ENV', ...ctx.base, pairs: keyValues(ctx) }),
  LABEL: (ctx) => ({ kind: 'LABEL', ...ctx.base, pairs: keyValues(ctx) }),
  MAINTAINER: parseMaintainer,
  COPY: parseCopy,
  ADD: parseAdd,
  RUN: parseRun,
  CMDS: parseCmds,
  LAUNCH: parseLaunch,
  APP: parseApp,
  CNI: parseApp,
  CSI: parseApp,
  APPCMDS: parseAppCmds,
  APPENV: parseAppEnv,
  KUBEVERSION: parseKubeVersion,
  ...CONFIG_PARSERS,
};

/** Splits the instructions into global ARGs and stages; only ARG may come before the first FROM. */
function assemble(file: string, instructions: Instruction[]): Kubefile {
  const globalArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    const stage = stages.at(-1);
    if (instruction.kind === 'FROM') stages.push({ index: stages.length, from: instruction, instructions: [] });
    else if (stage !== undefined) stage.instructions.push(instruction);
    else if (instruction.kind === 'ARG') globalArgs.push(instruction);
    else throw new KubefileError(instruction.pos, `${instruction.kind} before the first FROM`, 'only ARG may come before FROM; start with FROM <image>');
  }
  if (stages.length === 0) {
    throw new KubefileError({ file, line: 1, col: 1 }, 'no FROM instruction', 'a Kubefile starts with FROM <image> (FROM scratch for an empty base)');
  }
  return { file, globalArgs, stages };
}

/** sealer's rules for what runs at install time: LAUNCH and CMDS once each and last; not LAUNCH with CMD. */
function checkInstallInstructions(instructions: Instruction[]): void {
  for (const kind of ['LAUNCH', 'CMDS'] as const) {
    const second = instructions.filter((i) => i.kind === kind)[1];
    if (second !== undefined) throw new KubefileError(second.pos, `${kind} may appear only once`, `list everything in a single ${USAGE[kind]}`);
  }
  const launch = instructions.findIndex((i) => i.kind === 'LAUNCH');
  const cmd = instructions.findIndex((i) => i.kind === 'CMD');
  if (launch >= 0 && cmd >= 0) {
    throw new KubefileError(instructions[Math.max(launch, cmd)]!.pos, 'LAUNCH and CMD cannot be used together', 'CMD is deprecated: run commands with CMDS, or apps with LAUNCH');
  }
  const last = instructions.at(-1);
  const early = instructions.find((i) => (i.kind === 'LAUNCH' || i.kind === 'CMDS') && i !== last);
  if (early !== undefined) {
    throw new KubefileError(early.pos, `${early.kind} must be the last instruction`, 'move it to the end of the Kubefile (so LAUNCH and CMDS cannot both be used)');
  }
}
