/**
 * Help texts and the README's option tables, both made from OPTIONS (src/config.ts), so the
 * options, defaults and env variables a person reads are the ones the parser applies.
 */
import { type CommandName, defaultOf, describeOption, OPTIONS, type OptionName, type OptionSpec, optionsOf } from '../config.ts';
import type { Command } from './command.ts';

function flag(name: OptionName): string {
  const s: OptionSpec = OPTIONS[name];
  return s.type === 'boolean' ? `--${name}` : `--${name} ${s.value ?? 'VALUE'}`;
}

/** The default as help and the README show it, or undefined when there is none to show. */
export function defaultText(name: OptionName, command: CommandName): string | undefined {
  const s: OptionSpec = OPTIONS[name];
  if (typeof s.defaultText === 'string') return s.defaultText;
  if (s.defaultText?.[command]) return s.defaultText[command];
  const d = defaultOf(name, command);
  return d === undefined || d === false ? undefined : String(d);
}

/** Wraps `text` to `width` columns, every line after the first indented by `indent`. */
function wrap(text: string, width: number, indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join(`\n${indent}`);
}

/** `medallion <name> --help`. */
export function commandHelp(name: CommandName, command: Command): string {
  const column = 28;
  const indent = ' '.repeat(column);
  const rows = optionsOf(name).map((option) => {
    const s: OptionSpec = OPTIONS[option];
    const d = defaultText(option, name);
    const extras = [d !== undefined ? `default: ${d}` : '', s.env ? `env ${s.env}` : ''].filter(Boolean).join('; ');
    const text = `${describeOption(option, name)}${extras ? ` (${extras})` : ''}`;
    const left = `  ${flag(option)}`;
    return left.length < column - 1 ? `${left.padEnd(column)}${wrap(text, 100 - column, indent)}` : `${left}\n${indent}${wrap(text, 100 - column, indent)}`;
  });
  rows.push(`${'  -h, --help'.padEnd(column)}show this help; runs nothing`);
  return [`usage: medallion ${name} ${command.synopsis ?? '[options]'}`, '', command.description, '', 'options:', ...rows].join('\n');
}

/** `medallion help`: every command with its summary. */
export function overviewHelp(commands: Readonly<Record<string, Command>>, version: string): string {
  const lines = [`medallion ${version}`, '', 'usage: medallion COMMAND [options]    medallion COMMAND --help    medallion --version', '', 'commands:'];
  for (const [name, command] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${command.summary}`);
  lines.push('', 'exit codes: 0 ok, 1 data failed, 2 usage, 3 dependency (database, disk), 75 locked (skipped), 130/143 interrupted');
  return lines.join('\n');
}

const md = (text: string) => text.replace(/\|/g, '\\|');

/**
 * The README's Markdown table of the options of `commands`; for several commands, one table of
 * all their options with a column naming which of them take each (defaults of the first).
 */
export function optionsMarkdown(commands: readonly CommandName[]): string {
  const first = commands[0]!;
  const several = commands.length > 1;
  const names = (Object.keys(OPTIONS) as OptionName[]).filter((option) => commands.some((c) => optionsOf(c).includes(option)));
  const rows = names.map((option) => {
    const s: OptionSpec = OPTIONS[option];
    const command = commands.find((c) => s.commands.includes(c)) ?? first;
    const d = defaultText(option, command);
    const shown = d === undefined ? (s.type === 'boolean' ? 'off' : 'none') : s.defaultText !== undefined ? md(d) : `\`${md(d)}\``;
    const takenBy = several ? ` ${commands.filter((c) => s.commands.includes(c)).join(', ')} |` : '';
    return `| \`${md(flag(option))}\` | ${s.env ? `\`${s.env}\`` : ''} | ${shown} | ${md(describeOption(option, command))} |${takenBy}`;
  });
  const head = several ? ['| option | env | default | meaning | commands |', '|---|---|---|---|---|'] : ['| option | env | default | meaning |', '|---|---|---|---|'];
  return [...head, ...rows].join('\n');
}

/** README.md with every `<!-- options:NAME[,NAME] -->` … `<!-- /options -->` block made from OPTIONS. */
export function withOptionTables(readme: string): string {
  return readme.replace(/(<!-- options:([a-z,-]+) -->\n)[\s\S]*?(<!-- \/options -->)/g, (_, open: string, names: string, close: string) => `${open}${optionsMarkdown(names.split(',') as CommandName[])}\n${close}`);
}
