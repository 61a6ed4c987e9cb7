import { Argument, Command, type Option } from 'commander';
import { COMMAND_NAMES } from './command-names.js';

/**
 * Shell completion generated from the commander definitions: every command, subcommand, flag
 * and argument the CLI has is what the shell offers, so a new flag completes with no edit here.
 * What a value is comes from its placeholder (`<file>`, `<ref>`, `<gzip|zstd|none>`) and from
 * the argument names (`<ref>`, `<refs...>`, `<context>`): image references are completed from
 * the store (`sealbuild images --names`, with the `--root` of the command line).
 */

/** What the shell offers for a value: files, directories, images of the store, platforms, a fixed set, or nothing. */
export type ValueKind = 'file' | 'dir' | 'image' | 'platform' | 'none' | { choices: string[] };

export interface FlagSpec {
  names: string[];
  /** undefined: a switch. `optional`: `--flag=VALUE` only (the next word is not its value). */
  value: ValueKind | undefined;
  optional: boolean;
  description: string;
}

export interface CommandSpec {
  /** Space-separated words after `sealbuild` ('' for the program itself). */
  path: string;
  description: string;
  subcommands: string[];
  /** Its own flags, its parents' (commander takes a parent's option after the subcommand) and --help. */
  flags: FlagSpec[];
  /** What each positional argument is; the last repeats when it is variadic. */
  args: ValueKind[];
  variadic: boolean;
}

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

const PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/arm/v7', 'linux/ppc64le', 'linux/s390x', 'linux/riscv64'];
const IMAGE_WORDS = new Set(['ref', 'refs', 'image', 'source', 'list', 'ref|dir', 'base']);
const FILE_WORDS = new Set(['file', 'path', 'clusterfile', 'prefix']);
const DIR_WORDS = new Set(['dir', 'context']);
const HELP: FlagSpec = { names: ['--help', '-h'], value: undefined, optional: false, description: 'display help' };

/** What a placeholder or argument name (`ref`, `a|b|c`, `os/arch`) says its value is. */
function kindOf(word: string, flagName: string): ValueKind {
  const lower = word.toLowerCase();
  if (flagName === '--platform') return 'platform';
  if (IMAGE_WORDS.has(lower)) return 'image';
  if (FILE_WORDS.has(lower)) return 'file';
  if (DIR_WORDS.has(lower)) return 'dir';
  if (/^[a-z0-9-]+(\|[a-z0-9-]+)+$/.test(word)) return { choices: word.split('|') };
  return 'none';
}

function flagSpec(option: Option): FlagSpec {
  const names = [option.long, option.short].filter((n): n is string => n !== undefined);
  const placeholder = /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1];
  const takes = option.required || option.optional;
  let value: ValueKind | undefined;
  if (takes) value = option.argChoices ? { choices: option.argChoices } : placeholder === 'bool' ? { choices: ['true', 'false'] } : kindOf(placeholder ?? '', option.long ?? '');
  return { names, value, optional: option.optional, description: option.description };
}

function argKind(argument: Argument): ValueKind {
  return argument.argChoices ? { choices: argument.argChoices } : kindOf(argument.name(), '');
}

/** Every command of `root`, parents first. */
export function commandSpecs(root: Command): CommandSpec[] {
  const specs: CommandSpec[] = [];
  const walk = (command: Command, path: string, inherited: FlagSpec[]) => {
    const flags = [...command.options.filter((o) => !o.hidden).map(flagSpec), ...inherited];
    const visible = command.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden);
    specs.push({
      path,
      description: command.description(),
      subcommands: visible.map((c) => c.name()),
      flags: [...flags, HELP],
      args: command.registeredArguments.map(argKind),
      variadic: command.registeredArguments.at(-1)?.variadic ?? false,
    });
    for (const sub of visible) walk(sub, path === '' ? sub.name() : `${path} ${sub.name()}`, flags);
  };
  walk(root, '', []);
  return specs;
}

// ---- bash (and zsh through bashcompinit) ----

const q = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function bashKind(kind: ValueKind): string {
  return typeof kind === 'string' ? kind : `choices:${kind.choices.join(' ')}`;
}

/** A bash `case` on "$1" (a command path) printing a word list per path. */
function bashTable(name: string, specs: CommandSpec[], words: (spec: CommandSpec) => string[]): string {
  const arms = specs.map((spec) => `    ${q(spec.path)}) echo ${q(words(spec).join(' '))} ;;`);
  return `${name}() {\n  case "$1" in\n${arms.join('\n')}\n  esac\n}`;
}

function bashScript(specs: CommandSpec[]): string {
  const valueKinds = specs.flatMap((spec) =>
    spec.flags.flatMap((flag) => (flag.value === undefined ? [] : flag.names.map((n) => `    ${q(`${spec.path}|${n}`)}) echo ${q(bashKind(flag.value!))} ;;`))),
  );
  const argKinds = specs.flatMap((spec) => spec.args.map((kind, i) => `    ${q(`${spec.path}|${i}`)}) echo ${q(bashKind(kind))} ;;`));
  // Past a variadic argument, every word is another of it.
  const variadic = specs.filter((s) => s.variadic).map((s) => `    ${q(s.path)}) ((n > ${s.args.length - 1})) && n=${s.args.length - 1} ;;`);
  return `# sealbuild completion for bash (generated from its command definitions by \`sealbuild completion bash\`).
# Load it with: source <(sealbuild completion bash)
${bashTable('_sealbuild_subcommands', specs, (s) => s.subcommands)}
${bashTable('_sealbuild_flags', specs, (s) => s.flags.flatMap((f) => f.names))}
# Flags whose value is the next word.
${bashTable('_sealbuild_valued', specs, (s) => s.flags.filter((f) => f.value !== undefined && !f.optional).flatMap((f) => f.names))}
_sealbuild_value_kind() {
  case "$1|$2" in
${valueKinds.join('\n')}
  esac
}
_sealbuild_arg_kind() {
  local n=$2
  case "$1" in
${variadic.join('\n')}
  esac
  case "$1|$n" in
${argKinds.join('\n')}
  esac
}
_sealbuild_offer() {
  # $1: a kind, $2: the word typed so far, $3...: the command and its --root
  local kind=$1 cur=$2
  shift 2
  case "$kind" in
    image) COMPREPLY=($(compgen -W "$("$@" images --names 2>/dev/null)" -- "$cur")) ;;
    file) COMPREPLY=($(compgen -f -- "$cur")) ;;
    dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
    platform) COMPREPLY=($(compgen -W ${q(PLATFORMS.join(' '))} -- "$cur")) ;;
    choices:*) COMPREPLY=($(compgen -W "\${kind#choices:}" -- "$cur")) ;;
    *) COMPREPLY=() ;;
  esac
  # Bash splits the word at ':' (my/app:v1): offer only what follows the last one.
  if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
    local colon=\${cur%"\${cur##*:}"} i=\${#COMPREPLY[@]}
    while ((i-- > 0)); do COMPREPLY[i]=\${COMPREPLY[i]#"$colon"}; done
  fi
}
_sealbuild_complete() {
  # The words up to the cursor, split at blanks only (COMP_WORDS is also split at ':' and '=').
  # command_path, not path: zsh ties \$path to \$PATH, even in a local.
  local line=\${COMP_LINE:0:$COMP_POINT} words=() cur command_path="" nargs=0 want="" w i
  local -a self
  set -f
  words=($line)
  set +f
  if [[ $line == *[[:blank:]] || \${#words[@]} -le 1 ]]; then cur=""; else cur=\${words[\${#words[@]}-1]}; words=("\${words[@]:0:\${#words[@]}-1}"); fi
  self=("\${words[0]:-sealbuild}")
  for ((i = 1; i < \${#words[@]}; i++)); do
    w=\${words[i]}
    if [[ -n $want ]]; then
      [[ $want == --root ]] && self+=(--root "$w")
      want=""
      continue
    fi
    if [[ $w == -* ]]; then
      [[ $w == --root=* ]] && self+=(--root "\${w#--root=}")
      # A flag that is not the program's own starts the default command, build.
      [[ -z $command_path && " $(_sealbuild_flags "") " != *" \${w%%=*} "* ]] && command_path=build
      [[ $w != *=* && " $(_sealbuild_valued "$command_path") " == *" $w "* ]] && want=$w
      continue
    fi
    if ((nargs == 0)) && [[ " $(_sealbuild_subcommands "$command_path") " == *" $w "* ]]; then
      command_path=\${command_path:+$command_path }$w
    elif [[ -z $command_path ]]; then
      command_path=build nargs=1
    else
      nargs=$((nargs + 1))
    fi
  done
  if [[ -n $want ]]; then
    _sealbuild_offer "$(_sealbuild_value_kind "$command_path" "$want")" "$cur" "\${self[@]}"
  elif [[ $cur == --*=* ]]; then
    _sealbuild_offer "$(_sealbuild_value_kind "$command_path" "\${cur%%=*}")" "\${cur#*=}" "\${self[@]}"
    # bash replaces only what follows '=' (a word break there); zsh replaces the whole word.
    [[ \${COMP_WORDBREAKS-} == *=* ]] || COMPREPLY=("\${COMPREPLY[@]/#/\${cur%%=*}=}")
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_sealbuild_flags "$command_path")" -- "$cur"))
  elif ((nargs == 0)) && [[ -n $(_sealbuild_subcommands "$command_path") ]]; then
    COMPREPLY=($(compgen -W "$(_sealbuild_subcommands "$command_path")" -- "$cur"))
    # The program's own word may also be a build context (\`sealbuild DIR\`).
    [[ -z $command_path ]] && COMPREPLY+=($(compgen -d -- "$cur"))
  else
    _sealbuild_offer "$(_sealbuild_arg_kind "\${command_path:-build}" "$nargs")" "$cur" "\${self[@]}"
  fi
}
complete -F _sealbuild_complete sealbuild
`;
}

function zshScript(specs: CommandSpec[]): string {
  // zsh runs bash completion functions through bashcompinit; emulating ksh gives them bash's
  // word splitting and 0-based arrays.
  const bash = bashScript(specs)
    .replace(/^# sealbuild completion for bash.*\n# Load it with.*\n/, '')
    .replace(/^(_sealbuild_\w+\(\) \{)$/gm, '$1\n  emulate -L ksh');
  return `#compdef sealbuild
# sealbuild completion for zsh (generated from its command definitions by \`sealbuild completion zsh\`).
# Load it with: source <(sealbuild completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}

// ---- fish ----

function fishQuote(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function fishValue(kind: ValueKind): string {
  if (typeof kind !== 'string') return `-x -a ${fishQuote(kind.choices.join(' '))}`;
  switch (kind) {
    case 'image':
      return `-x -a '(__sealbuild_images)'`;
    case 'platform':
      return `-x -a ${fishQuote(PLATFORMS.join(' '))}`;
    case 'dir':
      return `-x -a '(__fish_complete_directories)'`;
    case 'file':
      return '-r -F';
    case 'none':
      return '-x';
  }
}

function fishScript(specs: CommandSpec[]): string {
  const lines = [
    '# sealbuild completion for fish (generated from its command definitions by `sealbuild completion fish`).',
    '# Load it with: sealbuild completion fish | source',
    // As in bash: a flag's value is skipped, a flag or word that is not the program's own starts
    // the default command (build), and words after the command path are its arguments.
    'function __sealbuild_path --description "the command words typed so far"',
    '    set -l path; set -l want 0; set -l nargs 0',
    '    for w in (commandline -opc)[2..-1]',
    '        if test $want = 1; set want 0; continue; end',
    '        if string match -q -- "-*" $w',
    '            test -z "$path"; and not contains -- (string replace -r -- "=.*" "" $w) (__sealbuild_table flags ""); and set path build',
    '            string match -q -- "*=*" $w; or not contains -- $w (__sealbuild_table valued "$path"); or set want 1',
    '            continue',
    '        end',
    '        if test $nargs = 0; and contains -- $w (__sealbuild_table subcommands "$path")',
    '            set path (string trim -- "$path $w")',
    '        else if test -z "$path"',
    '            set path build; set nargs 1',
    '        else',
    '            set nargs (math $nargs + 1)',
    '        end',
    '    end',
    '    echo $path',
    'end',
    'function __sealbuild_table --description "TABLE PATH: subcommands, flags or valued (flags whose value is the next word) of a command"',
    '    switch "$argv[1] $argv[2]"',
    ...specs.flatMap((s) => {
      const rows: [string, string[]][] = [
        ['subcommands', s.subcommands],
        ['flags', s.flags.flatMap((f) => f.names)],
        ['valued', s.flags.filter((f) => f.value !== undefined && !f.optional).flatMap((f) => f.names)],
      ];
      return rows.filter(([, words]) => words.length > 0).flatMap(([table, words]) => [`        case ${fishQuote(`${table} ${s.path}`)}`, `            printf '%s\\n' ${words.join(' ')}`]);
    }),
    '    end',
    'end',
    'function __sealbuild_images',
    '    set -l root (string match -r -- "--root[= ](\\S+)" (commandline -pc))[2]',
    '    if test -n "$root"; sealbuild --root $root images --names 2>/dev/null; else; sealbuild images --names 2>/dev/null; end',
    'end',
    'complete -c sealbuild -f',
  ];
  for (const spec of specs) {
    const at = `-n '__sealbuild_at ${spec.path}'`;
    for (const name of spec.subcommands) {
      const sub = specs.find((s) => s.path === (spec.path === '' ? name : `${spec.path} ${name}`))!;
      lines.push(`complete -c sealbuild ${at} -a ${fishQuote(name)} -d ${fishQuote(sub.description)}`);
    }
    for (const flag of spec.flags) {
      const long = flag.names.find((n) => n.startsWith('--'))?.slice(2);
      const short = flag.names.find((n) => !n.startsWith('--'))?.slice(1);
      const names = [long ? `-l ${long}` : '', short ? `-s ${short}` : ''].filter(Boolean).join(' ');
      lines.push(`complete -c sealbuild ${at} ${names}${flag.value === undefined ? '' : ` ${fishValue(flag.value)}`} -d ${fishQuote(flag.description)}`);
    }
    const first = spec.args[0];
    if (first !== undefined && spec.subcommands.length === 0) lines.push(`complete -c sealbuild ${at} ${fishValue(first).replace(/^-[rx] ?/, '')}`);
    // The program's own word may also be a build context (`sealbuild DIR`).
    if (spec.path === '') lines.push(`complete -c sealbuild ${at} ${fishValue('dir').replace(/^-x /, '')}`);
  }
  lines.push('function __sealbuild_at', '    test "$argv" = (__sealbuild_path)', 'end');
  return `${lines.join('\n')}\n`;
}

export function completionScript(root: Command, shell: Shell): string {
  const specs = commandSpecs(root);
  return shell === 'bash' ? bashScript(specs) : shell === 'zsh' ? zshScript(specs) : fishScript(specs);
}

/** `sealbuild completion SHELL`: loads every command to describe it. */
export function completionCommand(): Command {
  return new Command('completion')
    .description('print the shell completion script for bash, zsh or fish (commands, flags, and image names from the store)')
    .addArgument(new Argument('<shell>').choices(SHELLS))
    .action(async (shell: Shell, _flags: unknown, command: Command) => {
      const root = command.parent!;
      const { COMMANDS } = await import('./commands.js');
      const have = new Set(root.commands.map((c) => c.name()));
      for (const name of COMMAND_NAMES) if (!have.has(name)) root.addCommand(await COMMANDS[name]());
      process.stdout.write(completionScript(root, shell));
    });
}
