#!/usr/bin/env python3
"""Man pages and bash completion generated from the built binaries' help
text, at build time (run by meson), so that neither can drift from it.

  gen-docs.py man SINGULARITY IMAGE_TOOL VERSION CONFIG OUT.1...
      singularity.1 from `singularity --help`, singularity-CMD.1 from
      `singularity help CMD` for every command `--help` lists. The outputs
      meson expects must be exactly those pages: a command added to the help
      but not to the meson list (or the other way round) fails the build.
  gen-docs.py completion SINGULARITY IMAGE_TOOL TEMPLATE OUT
      TEMPLATE with @COMMANDS@, @GLOBAL_OPTIONS@ and @COMMAND_TABLE@ filled
      in: every command's options, which of them take a value, and what its
      positional arguments are (from its Usage line).

The image tool answers `help CMD` for the commands it runs (pull, build,
inspect), so no installed copy is needed; the light binary answers the rest.
"""
import os
import re
import subprocess
import sys

HEADER = re.compile(r"^([A-Z][A-Za-z]*(?: [a-z]+){0,2}):(?:\s+(.*))?$")
# "-B, --bind SPEC", "    --env KEY=VALUE", "--disable-cache do not..." (one space)
OPTION = re.compile(r"^(\s+)((?:-\w, )?--?[\w-]+(?:[ =][A-Z<\[][^\s]*)?)(?:\s+(\S.*))?$")
ENTRY = re.compile(r"^(\s+)(\S+)\s{2,}(\S.*)$")


def run_help(binary, args):
    p = subprocess.run([binary] + args, capture_output=True, text=True)
    return p.stdout if p.returncode == 0 and p.stdout.strip() else None


def command_help(light, image_tool, cmd):
    text = run_help(image_tool, ["help", cmd]) or run_help(light, ["help", cmd])
    if text is None:
        sys.exit(f"gen-docs: `singularity help {cmd}` failed")
    return text


def sections(text):
    """[(title, [lines])] in order; text outside a headed block is DESCRIPTION."""
    out = []
    current = None
    for block in re.split(r"\n\s*\n", text.strip("\n")):
        lines = block.split("\n")
        m = HEADER.match(lines[0])
        if m:
            current = [m.group(1), ([m.group(2)] if m.group(2) else []) + lines[1:]]
            out.append(current)
        elif lines[0][:1].isspace() and current is not None:
            current[1] += [""] + lines
        else:
            current = ["Description", lines]
            out.append(current)
    merged = []
    for title, body in out:  # one DESCRIPTION, in order
        if title == "Description" and any(t == title for t, _ in merged):
            next(b for t, b in merged if t == title).extend([""] + body)
        else:
            merged.append((title, body))
    return merged


def entries(body):
    """Split a body into ("text", line) and ("entry", term, desc) items."""
    items = []
    for line in body:
        m = OPTION.match(line) or ENTRY.match(line)
        # An entry starts near the margin; deeper lines continue the last one
        # (even when they start with an option: "(with\n    --network none").
        if m and line[:1].isspace() and len(m.group(1)) <= 8:
            items.append(["entry", m.group(2), m.group(3) or "", len(m.group(1))])
        elif (line.strip() and line[:1].isspace() and items and items[-1][0] == "entry"
              and len(line) - len(line.lstrip()) > items[-1][3]):
            items[-1][2] += " " + line.strip()
        else:
            items.append(["text", line.strip()])
    return items


def esc(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + s if s[:1] in (".", "'") else s


def roff_term(term, bold=False):
    """-B, --bind SPEC -> bold options, italic value (bold: a command name)."""
    if bold:
        return f"\\fB{esc(term)}\\fR"
    parts = []
    for tok in re.split(r"(, | )", term):
        if tok in (", ", " "):
            parts.append(tok)
        elif tok.startswith("-"):
            opt, eq, val = tok.partition("=")
            parts.append(f"\\fB{esc(opt)}\\fR" + (f"=\\fI{esc(val)}\\fR" if eq else ""))
        else:
            parts.append(f"\\fI{esc(tok)}\\fR")
    return "".join(parts)


def roff_body(title, body):
    out = []
    if title in ("Usage", "Examples"):
        out += [".nf"] + [esc(l.strip()) for l in body if l.strip()] + [".fi"]
        return out
    para = False
    for item in entries(body):
        if item[0] == "entry":
            out += [".TP", roff_term(item[1], title == "Commands"), esc(item[2])]
            para = False
        elif not item[1]:
            para = False
        else:
            if not para:
                out.append(".PP")
                para = True
            out.append(esc(item[1]))
    return out


def man_page(name, summary, text, version, see_also, extra=()):
    # .nh/.ad l: no hyphenation or justification, so that option and command
    # names are never split across lines (a reader may copy or grep them).
    out = [f'.TH {name.upper()} 1 "" "singularity {version}" "User Commands"', ".nh", ".ad l",
           ".SH NAME", f"{esc(name)} \\- {esc(summary)}"]
    for title, body in sections(text):
        heading = {"Usage": "SYNOPSIS"}.get(title, title.upper())
        out += [f".SH {esc(heading)}"] + roff_body(title, body)
    out += list(extra)
    out += [".SH SEE ALSO", ",\n".join(f"\\fB{esc(p)}\\fR(1)" for p in see_also)]
    return "\n".join(out) + "\n"


def command_list(main_help):
    body = dict(sections(main_help)).get("Commands")
    if not body:
        sys.exit("gen-docs: `singularity --help` lists no Commands")
    return [(i[1], i[2]) for i in entries(body) if i[0] == "entry"]


def gen_man(light, image_tool, version, config, outputs):
    main_help = run_help(light, ["--help"])
    cmds = command_list(main_help)
    want = {"singularity.1"} | {f"singularity-{c}.1" for c, _ in cmds}
    got = {os.path.basename(o) for o in outputs}
    if want != got:
        sys.exit(f"gen-docs: the help lists pages {sorted(want)}, meson asks for "
                 f"{sorted(got)}: update the man page list in frontend/meson.build")
    outdir = os.path.dirname(outputs[0])
    files = [".SH FILES", ".TP", esc(config),
             "the configuration the setuid starter reads (owned by root)"]
    with open(os.path.join(outdir, "singularity.1"), "w") as f:
        f.write(man_page("singularity", "a Singularity-compatible container runtime",
                         main_help, version, [f"singularity-{c}" for c, _ in cmds], files))
    for cmd, summary in cmds:
        with open(os.path.join(outdir, f"singularity-{cmd}.1"), "w") as f:
            f.write(man_page(f"singularity-{cmd}", summary,
                             command_help(light, image_tool, cmd), version, ["singularity"]))


def options_of(text):
    """(every option spelling, the ones that take a value) of a help text."""
    opts, valued = [], []
    for title, body in sections(text):
        if "ptions" not in title:
            continue
        for item in entries(body):
            if item[0] != "entry" or not item[1].startswith("-"):
                continue
            names = re.findall(r"(?:^|, )(--?[\w-]+)", item[1])
            takes = re.match(r"^(?:-\w, )?--?[\w-]+[ =]\S", item[1]) is not None
            opts += [n for n in names if n not in opts]
            if takes:
                valued += [n for n in names if n not in valued]
    return opts, valued


def positionals(text):
    """Kinds of a command's positional arguments, from its Usage line:
    "image" (image files, sandbox directories, docker://) or "file" (the
    completion repeats the last kind; `help` takes a "command")."""
    usage = " ".join(dict(sections(text)).get("Usage", []))
    usage = re.sub(r"\[[^\]]*options?[^\]]*\]", " ", usage)  # [exec options...]
    usage = re.sub(r"\[([^\]]*) ([^\]]*)\]", r"[\1_\2]", usage)  # [shell args...]
    kinds = []
    for tok in usage.split()[2:]:
        low = tok.lower()
        if "image" in low or "docker://" in low or "source" in low:
            kinds.append("image")
        else:
            kinds.append("file")
    # An optional argument before an image ([OUTPUT] docker://REF): the word
    # may be either, so offer images (their completion includes directories).
    toks = usage.split()[2:]
    for i in range(len(kinds) - 1):
        if toks[i].startswith("[") and kinds[i + 1] == "image":
            kinds[i] = "image"
    return kinds


def gen_completion(light, image_tool, template, out):
    main_help = run_help(light, ["--help"])
    cmds = [c for c, _ in command_list(main_help)]
    gopts, _ = options_of(main_help)
    table = []
    for cmd in cmds:
        text = command_help(light, image_tool, cmd)
        opts, valued = options_of(text)
        kinds = positionals(text)
        if cmd == "help":
            kinds = ["command"]
        table.append(f'\t{cmd}) opts="{" ".join(opts)}" valued="{" ".join(valued)}" '
                     f'args="{" ".join(kinds)}" ;;')
    with open(template) as f:
        s = f.read()
    s = (s.replace("@COMMANDS@", " ".join(cmds)).replace("@GLOBAL_OPTIONS@", " ".join(gopts))
         .replace("@COMMAND_TABLE@", "\n".join(table)))
    with open(out, "w") as f:
        f.write(s)


def main():
    if len(sys.argv) >= 7 and sys.argv[1] == "man":
        gen_man(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:])
    elif len(sys.argv) == 6 and sys.argv[1] == "completion":
        gen_completion(*sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
