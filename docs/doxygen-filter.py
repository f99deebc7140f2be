#!/usr/bin/env python3
"""Doxygen's input filter for clt's headers (docs/Doxyfile.in). The headers document with plain
C comments, so: the comment that opens a file documents the file (\\file at its end), any other comment on
lines of its own documents what follows it, and a comment after a declaration on its line
documents that declaration (/**< */). The text goes in verbatim, without the leading asterisks:
the comments are plain text laid out by hand (aligned lists, code), which Doxygen then shows as
written and reads no commands, lists or HTML from. Line numbers are kept."""
import re
import sys


def verbatim(body):
    lines = body.split("\n")
    lines = [lines[0]] + [re.sub(r"^\s*\* ?", "", line) for line in lines[1:]]
    return " \\verbatim " + "\n".join(lines).strip(" ") + " \\endverbatim "


def main(path):
    src = open(path, encoding="utf-8").read()
    out = []
    pos = 0
    for i, m in enumerate(re.finditer(r"/\*(.*?)\*/", src, re.S)):
        out.append(src[pos:m.start()])
        line_start = src.rfind("\n", 0, m.start()) + 1
        closer = "*/"
        if i == 0 and src[:m.start()].strip() == "":
            opener, closer = "/**", "\\file */"
        elif src[line_start:m.start()].strip():
            opener = "/**<"
        else:
            opener = "/**"
        out.append(opener + verbatim(m.group(1)) + closer)
        pos = m.end()
    out.append(src[pos:])
    sys.stdout.write("".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
