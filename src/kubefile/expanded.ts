import { given } from './arguments.js';
import { expandWord, type Lookup } from './expand.js';
import type { ArgInstruction, Instruction, KeyValue, Word } from './instructions.js';

/*
 * Instructions with their words expanded, once, before a handler sees them (BuildKit expands
 * a command's words before dispatching it: frontend/dockerfile/instructions, `Expand`). A
 * handler gets values, never a Word to expand by hand; the instruction as parsed stays in
 * `written` for messages that quote it.
 */

/** `T` with every Word in it (fields, lists, key/value pairs) turned into its value. */
type Value<T> = T extends Word ? string : T extends readonly (infer E)[] ? Value<E>[] : T extends KeyValue ? { key: string; value: string } : T;

/** An instruction of one kind, expanded: the same fields, values where it had Words. */
export type Expanded<I extends Instruction> = I extends unknown ? { [K in keyof I]: Value<I[K]> } & { written: I } : never;

/** Every instruction but ARG, whose defaults expand as they are declared (declareArgs). */
export type ExpandedInstruction = Expanded<Exclude<Instruction, ArgInstruction>>;

/**
 * The instruction with its words expanded by `lookup`, all with the variables as they were
 * before it (so `ENV A=1 B=$A` gives B the A of before, as in docker). Errors point at the
 * instruction's keyword, as expandWord's do.
 */
export function expandInstruction<I extends Exclude<Instruction, ArgInstruction>>(ins: I, lookup: Lookup): Expanded<I>;
export function expandInstruction(ins: Exclude<Instruction, ArgInstruction>, lookup: Lookup): ExpandedInstruction {
  const one = (word: Word) => expandWord(word, lookup, ins.pos);
  const each = (words: readonly Word[]) => words.map(one);
  const maybe = (word: Word | undefined) => (word === undefined ? undefined : one(word));
  switch (ins.kind) {
    case 'FROM': {
      const { platform, ...rest } = ins;
      return { ...rest, image: one(ins.image), ...given({ platform: maybe(platform) }), written: ins };
    }
    case 'ENV':
    case 'LABEL':
    case 'APPENV':
      return { ...ins, pairs: ins.pairs.map((p) => ({ key: one(p.key), value: one(p.value) })), written: ins } as ExpandedInstruction;
    case 'MAINTAINER':
      return { ...ins, name: one(ins.name), written: ins };
    case 'KUBEVERSION':
      return { ...ins, version: one(ins.version), written: ins };
    case 'COPY': {
      const { chown, from, ...rest } = ins;
      return { ...rest, sources: each(ins.sources), dest: one(ins.dest), ...given({ chown: maybe(chown), from: maybe(from) }), written: ins };
    }
    case 'ADD': {
      const { chown, checksum, ...rest } = ins;
      return { ...rest, sources: each(ins.sources), dest: one(ins.dest), ...given({ chown: maybe(chown), checksum: maybe(checksum) }), written: ins };
    }
    case 'APP':
    case 'CNI':
    case 'CSI':
      return { ...ins, sources: each(ins.sources), written: ins };
    case 'USER':
      return { ...ins, user: one(ins.user), written: ins };
    case 'WORKDIR':
      return { ...ins, path: one(ins.path), written: ins };
    case 'EXPOSE':
      return { ...ins, ports: each(ins.ports), written: ins };
    case 'VOLUME':
      return { ...ins, paths: each(ins.paths), written: ins };
    case 'STOPSIGNAL':
      return { ...ins, signal: one(ins.signal), written: ins };
    default:
      // RUN, CMD, CMDS, ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD, LAUNCH, APPCMDS: no words (docker runs their text as written).
      return { ...ins, written: ins } as ExpandedInstruction;
  }
}

/** Where ARG declares: a variable scope (builder/variables.ts). */
export interface ArgScope {
  lookup: Lookup;
  declareArg(name: string, defaultValue: string | undefined): void;
}

/**
 * Declares an ARG's names in order, each default expanded as it is reached: `ARG A=1 B=$A`
 * gives B the A just declared, so ARG is expanded here rather than by expandInstruction.
 */
export function declareArgs(ins: ArgInstruction, scope: ArgScope): void {
  for (const arg of ins.args) scope.declareArg(arg.name, arg.defaultValue === undefined ? undefined : expandWord(arg.defaultValue, scope.lookup, ins.pos));
}
