#!/usr/bin/env python3
"""Writes pflow(1), the man page, from `pflow --help`.

    python3 Scripts/gen-man.py .build/release/pflow > .build/pflow.1
    pflow --help | python3 Scripts/gen-man.py - > pflow.1

The help text (Sources/pflow/Options.swift) is the one description of the
options: every option, argument and the synopsis are read from it, so an
option added to the help is in the page at the next `make man` with no edit
here. Only what the help doesn't say (exit status, environment, examples,
see also) is fixed text below, and the options that text names are checked
against the help, so a renamed or removed option breaks the build of the
page instead of leaving a page that describes an option pflow no longer has.

The help is read in the layout it has (swift-argument-parser's): `HEADING:`
at column 0, entries indented, an entry's term separated from its text by
two or more spaces or alone on its line with the text indented below.

Python 3 standard library only.
"""

import argparse
import datetime
import os
import re
import shlex
import subprocess
import sys

# --- fixed text: what --help doesn't hold -----------------------------------
# Plain text; escaped for troff like the help's. Option names in it must be
# options the help lists (checked).

LIVE_CAPTURE = (
    "Live capture needs root, or the capabilities CAP_NET_RAW and "
    "CAP_NET_ADMIN on the binary (setcap cap_net_raw,cap_net_admin=eip); "
    "without them pflow says so in one line. Capabilities set on a file in "
    "a file system mounted nosuid have no effect."
)

# (status, meaning), from README.md's "Exit status".
EXIT_STATUS = [
    ("0", "Success, including a file damaged part-way: it is analysed up to "
          "the damage, and a warning on standard error names the file and "
          "the byte offset."),
    ("1", "An input or output problem: a missing file, a directory, an empty "
          "file, a file that is not pcap or pcapng, an unsupported format "
          "version, a broken gzip header, a bad filter, an unreadable "
          "--services file, an unwritable --csv path; or a live capture that "
          "failed part-way (the report of what was seen is still printed). "
          "One line \"pflow: error: ...\" on standard error."),
    ("64", "A usage error (EX_USAGE): an unknown option, a bad value. One "
           "line \"pflow: error: ...\" on standard error."),
    ("130", "A second interrupt (Ctrl-C) during a live capture, which exits "
            "at once without the report."),
]

ENVIRONMENT = [
    ("NO_COLOR", "When set and not empty, no colour, even on a terminal. "
                 "Without it, colour is used only when standard output is a "
                 "terminal."),
]

# (what it does, command line)
EXAMPLES = [
    ("The report by service, on the terminal:",
     "pflow capture.pcap"),
    ("The report, plus one CSV row per flow in flows.csv:",
     "pflow --csv flows.csv capture.pcap"),
    ("The CSV on standard output instead of the report; here the flows that "
     "ended with a reset:",
     "pflow --csv - capture.pcap | grep ',rst,'"),
    ("The report as JSON:",
     "pflow --json capture.pcap"),
    ("Several files as one capture, in order; gzip-compressed files are read "
     "as they are:",
     "pflow a.pcap b.pcapng.gz"),
    ("Only the packets that match a BPF filter:",
     "pflow -f 'tcp port 443' capture.pcapng"),
    ("Standard input:",
     "tcpdump -w - -c 1000 | pflow -"),
    ("The interfaces pflow can capture on:",
     "pflow -D"),
    ("Live: a view refreshed every second, the report at Ctrl-C:",
     "sudo pflow -i eth0"),
    ("Live for a minute, flows to a CSV file as they end:",
     "sudo pflow -i eth0 --duration 60 --csv flows.csv -f 'not port 22'"),
]

# (name, section)
SEE_ALSO = [("tcpdump", "1"), ("tshark", "1"), ("pcap", "3PCAP"),
            ("pcap-filter", "7"), ("setcap", "8")]

# Synopsis lines the help's USAGE doesn't show: live capture and the
# interface list. Options checked like the examples.
EXTRA_SYNOPSIS = ["pflow -i <interface> [<options>]", "pflow -D"]


class HelpError(Exception):
    """The help text isn't in the layout this script reads."""


# --- reading the help --------------------------------------------------------

HEADING = re.compile(r"^([A-Z][A-Z0-9 ]*[A-Z0-9]):[ \t]*(.*)$")
# The gap between an entry's term and its text.
GAP = re.compile(r"\s{2,}")


def indent_of(line):
    return len(line) - len(line.lstrip(" "))


def read_sections(text):
    """[(heading, [lines])] in the help's order; a heading's text on its own
    line (OVERVIEW: ..., USAGE: ...) is the section's first line."""
    sections = []
    for raw in text.expandtabs(8).splitlines():
        line = raw.rstrip()
        m = HEADING.match(line)
        if m:
            sections.append((m.group(1), [m.group(2)] if m.group(2) else []))
        elif sections:
            sections[-1][1].append(line)
        elif line:
            raise HelpError(f"text before the first heading: {line!r}")
    return sections


def paragraphs(lines):
    """Blank-line-separated paragraphs, each one string."""
    out, current = [], []
    for line in lines + [""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            out.append(" ".join(current))
            current = []
    return out


def is_entry_list(lines):
    """True for a section of `term  text` entries (ARGUMENTS, OPTIONS), false
    for one of prose paragraphs."""
    body = [l for l in lines if l.strip()]
    if not body or min(indent_of(l) for l in body) == 0:
        return False
    first = body[0].strip()
    return first.startswith(("-", "<")) or GAP.search(first) is not None


def read_entries(heading, lines):
    """[(term, [paragraph, ...])]. An entry starts at the section's smallest
    indent; deeper lines continue its text; a blank line inside an entry's
    text starts a new paragraph of it."""
    body = [l for l in lines if l.strip()]
    base = min(indent_of(l) for l in body)
    entries = []
    pending_blank = False
    for line in lines:
        if not line.strip():
            pending_blank = True
            continue
        if indent_of(line) == base:
            parts = GAP.split(line.strip(), maxsplit=1)
            entries.append((parts[0], [parts[1]] if len(parts) > 1 else []))
        elif not entries:
            raise HelpError(f"{heading}: text before the first entry: {line.strip()!r}")
        else:
            paras = entries[-1][1]
            if pending_blank and paras:
                paras.append(line.strip())
            elif paras:
                paras[-1] += " " + line.strip()
            else:
                paras.append(line.strip())
        pending_blank = False
    for term, paras in entries:
        if not paras:
            raise HelpError(f"{heading}: {term!r} has no description")
    return entries


OPTION_NAME = re.compile(r"(?<![\w-])(--?[A-Za-z0-9?][\w-]*)")


def option_names(terms):
    """Long and short option names in entry terms: ('--csv', '-f', ...)."""
    names = set()
    for term in terms:
        for name in OPTION_NAME.findall(term):
            names.add(name)
    return names


# --- writing troff -----------------------------------------------------------


def non_ascii(s):
    # As \[uXXXX], so the page needs no input encoding (preconv) to render.
    return "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in s)


def escape(s):
    """Plain text as troff text: backslashes first (as \\e), then hyphens
    that are minus signs, then anything not ASCII."""
    s = s.replace("\\", "\\e")
    # A hyphen in an option (-f, --csv, --conn-log-format), alone (- for
    # stdin) or before a number is a minus sign to type, \-; one inside a
    # word (IP-in-IP, on-screen) stays a hyphen.
    s = re.sub(r"(?<![\w-])-[\w-]*", lambda m: m.group(0).replace("-", "\\-"), s)
    return non_ascii(s)


def escape_text(s):
    """Prose: escaped, option names in bold."""
    s = s.replace("\\", "\\e")

    def option(m):
        # \% first: an option name must not be hyphenated at a line end.
        return "\\%\\fB" + m.group(0).replace("-", "\\-") + "\\fR"

    # Options, and - (stdin/stdout) and -- as words of their own, in bold.
    s = re.sub(r"(?<![\w-])--?[A-Za-z][\w-]*|(?<![\w-])--?(?![\w-])", option, s)
    # A negative number; not a hyphen the line above made \- (--top-10).
    s = re.sub(r"(?<![\w\\-])-(?=\d)", r"\\-", s)
    return non_ascii(s)


def escape_term(s):
    """An entry's term or a synopsis: option names bold, <values> italic."""
    out = []
    pos = 0
    token = re.compile(r"<([^<>]+)>|(?<![\w-])(--?[A-Za-z0-9?][\w-]*)")
    for m in token.finditer(s):
        out.append(escape(s[pos:m.start()]))
        if m.group(1) is not None:
            out.append("\\fI" + escape(m.group(1)) + "\\fR")
        else:
            out.append("\\%\\fB" + escape(m.group(2)) + "\\fR")
        pos = m.end()
    out.append(escape(s[pos:]))
    return "".join(out)


def line(text):
    """A text line that can't be read as a request (leading . or ')."""
    return "\\&" + text if text.startswith((".", "'")) else text


def quoted(s):
    """A macro argument in double quotes."""
    return '"' + escape(s).replace('"', "\\(dq") + '"'


def synopsis_line(usage):
    """`pflow [<options>] [<file> ...]`: the program in bold, the rest as a
    term."""
    name, _, rest = usage.partition(" ")
    return [".B " + escape(name), line(escape_term(rest))] if rest else [".B " + escape(name)]


def check_mentions(known, where, names):
    unknown = sorted(n for n in names if n not in known)
    if unknown:
        raise HelpError(f"{where} names {', '.join(unknown)}, which --help doesn't list; "
                        "update the fixed text in Scripts/gen-man.py")


def pflow_options_in(command):
    """The options given to pflow in a shell command line (not those of the
    other programs in a pipe)."""
    names = set()
    for segment in command.split("|"):
        words = shlex.split(segment)
        if words and words[0] == "sudo":
            words = words[1:]
        if not words or words[0] != "pflow":
            continue
        for w in words[1:]:
            if w.startswith("-") and w not in ("-", "--"):
                names.add(w.split("=", 1)[0] if w.startswith("--") else w[:2])
    return names


def render(help_text, version, date):
    sections = read_sections(help_text)
    by_name = {}
    for heading, lines in sections:
        if heading in by_name:
            raise HelpError(f"heading {heading} twice")
        by_name[heading] = lines
    for required in ("OVERVIEW", "USAGE", "OPTIONS"):
        if required not in by_name:
            raise HelpError(f"no {required}: section")

    overview = paragraphs(by_name["OVERVIEW"])
    if not overview:
        raise HelpError("OVERVIEW: is empty")
    summary = overview[0].rstrip(".")
    if summary[:1].isupper() and summary[1:2].islower():
        summary = summary[0].lower() + summary[1:]  # man's NAME style

    usages = []
    for l in by_name["USAGE"]:
        if not l.strip():
            continue
        if l[:1].isspace() and usages:  # a wrapped usage line
            usages[-1] += " " + l.strip()
        else:
            usages.append(l.strip())
    if not usages:
        raise HelpError("USAGE: is empty")

    entry_sections = []
    prose_sections = []
    for heading, lines in sections:
        if heading in ("OVERVIEW", "USAGE"):
            continue
        if is_entry_list(lines):
            entry_sections.append((heading, read_entries(heading, lines)))
        elif paragraphs(lines):
            prose_sections.append((heading, paragraphs(lines)))
    if not any(h == "OPTIONS" and e for h, e in entry_sections):
        raise HelpError("OPTIONS: lists no options")

    known = option_names(t for _, entries in entry_sections for t, _ in entries)
    long_in = lambda s: set(re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", s))
    check_mentions(known, "the live capture note", long_in(LIVE_CAPTURE))
    for status, meaning in EXIT_STATUS:
        check_mentions(known, f"exit status {status}", long_in(meaning))
    for var, meaning in ENVIRONMENT:
        check_mentions(known, var, long_in(meaning))
    for what, command in EXAMPLES:
        check_mentions(known, f"the example {command!r}", pflow_options_in(command))
    for usage in EXTRA_SYNOPSIS:
        check_mentions(known, f"the synopsis {usage!r}", pflow_options_in(usage))

    out = []
    add = out.append
    add(f'.\\" Generated by Scripts/gen-man.py from pflow --help; do not edit.')
    add(f".TH PFLOW 1 {quoted(date)} {quoted(version)} {quoted('User Commands')}")
    add(".SH NAME")
    add(line("pflow \\- " + escape_text(summary)))

    add(".SH SYNOPSIS")
    for i, usage in enumerate(usages + [u for u in EXTRA_SYNOPSIS if u not in usages]):
        if i:
            add(".br")
        out.extend(synopsis_line(usage))

    add(".SH DESCRIPTION")
    for i, para in enumerate(overview[1:] + [LIVE_CAPTURE]):
        if i:
            add(".PP")
        add(line(escape_text(para)))

    for heading, entries in entry_sections:
        add(".SH " + quoted(heading))
        for term, paras in entries:
            add(".TP")
            add(line(escape_term(term)))
            for j, para in enumerate(paras):
                if j:
                    add(".IP")
                add(line(escape_text(para)))

    for heading, paras in prose_sections:
        add(".SH " + quoted(heading))
        for j, para in enumerate(paras):
            if j:
                add(".PP")
            add(line(escape_text(para)))

    add(".SH \"EXIT STATUS\"")
    for status, meaning in EXIT_STATUS:
        add(".TP")
        add(".B " + status)
        add(line(escape_text(meaning)))

    add(".SH ENVIRONMENT")
    for var, meaning in ENVIRONMENT:
        add(".TP")
        add(".B " + escape(var))
        add(line(escape_text(meaning)))

    add(".SH EXAMPLES")
    for what, command in EXAMPLES:
        add(".PP")
        add(line(escape_text(what)))
        add(".PP")
        add(".RS 4")
        add(".EX")
        # Code: every hyphen is one to type.
        add(line(non_ascii(command.replace("\\", "\\e").replace("-", "\\-"))))
        add(".EE")
        add(".RE")

    add(".SH \"SEE ALSO\"")
    # A page's name is typed: its hyphens too are \-.
    refs = [".BR " + name.replace("-", "\\-") + f" ({section})" for name, section in SEE_ALSO]
    out.extend(r + ("," if i < len(refs) - 1 else "") for i, r in enumerate(refs))
    return "\n".join(out) + "\n"


def run(binary, *args):
    return subprocess.run([binary, *args], check=True, capture_output=True,
                          text=True).stdout


def main():
    parser = argparse.ArgumentParser(description="Write pflow(1) from pflow --help.")
    parser.add_argument("binary", help="the pflow binary to run, or - to read its --help on stdin")
    parser.add_argument("--version-text", help="what --version prints (default: run the binary; "
                                               "\"pflow\" when reading stdin)")
    parser.add_argument("--date", help="the page's date (default: SOURCE_DATE_EPOCH, else today)")
    args = parser.parse_args()

    try:
        if args.binary == "-":
            help_text = sys.stdin.read()
            version_text = args.version_text or "pflow"
        else:
            help_text = run(args.binary, "--help")
            version_text = args.version_text or run(args.binary, "--version")
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"gen-man.py: can't run {args.binary}: {e}")
    # "pflow 0.1.0 (libpcap ...)": the page footer wants "pflow 0.1.0".
    version = " ".join(version_text.split()[:2])

    date = args.date
    if not date:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
                if epoch else datetime.datetime.now(datetime.timezone.utc))
        date = when.strftime("%Y-%m-%d")

    try:
        sys.stdout.write(render(help_text, version, date))
    except HelpError as e:
        sys.exit(f"gen-man.py: {e}")


if __name__ == "__main__":
    main()
