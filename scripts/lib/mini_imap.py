"""Just enough IMAP (RFC 3501) to CREATE folders and APPEND messages.

It owns one plain TCP connection to 127.0.0.1; it never connects anywhere
else, never reads mail back and never deletes anything. Commands run one at a
time with synchronising literals, so any IMAP4rev1 server can take them.
Python 3 standard library only.
"""

import socket

CRLF = b"\r\n"


class ImapError(Exception):
    """A NO/BAD answer or a closed connection; the text says which."""


def quote(text):
    """An IMAP quoted string (bytes) for an ASCII name or password."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return b'"' + escaped.encode("utf-8") + b'"'


class Imap:
    """A logged-in connection to 127.0.0.1:port."""

    def __init__(self, port, user, password, timeout=60):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.tag = 0
        greeting = self.file.readline()
        if not greeting.startswith(b"* OK"):
            raise ImapError(f"unexpected greeting {greeting!r}")
        self.command(b"LOGIN " + quote(user) + b" " + quote(password))

    def command(self, line, literal=None):
        """Runs one command; returns the tagged OK line or raises ImapError."""
        self.tag += 1
        tag = b"M%d" % self.tag
        if literal is None:
            self.sock.sendall(tag + b" " + line + CRLF)
        else:
            self.sock.sendall(tag + b" " + line + b" {%d}" % len(literal) + CRLF)
            answer = self._line()
            if not answer.startswith(b"+"):
                raise ImapError(answer.decode(errors="replace").strip())
            self.sock.sendall(literal + CRLF)
        while True:
            answer = self._line()
            if answer.startswith(tag + b" "):
                if answer[len(tag) + 1:].startswith(b"OK"):
                    return answer
                raise ImapError(answer.decode(errors="replace").strip())

    def create(self, mailbox):
        """Creates mailbox; an existing one is fine."""
        try:
            self.command(b"CREATE " + quote(mailbox))
        except ImapError as e:
            if "ALREADYEXISTS" not in str(e):
                raise

    def append(self, mailbox, message, flags=(), internal_date=None):
        """Appends message (bytes); internal_date like 14-Mar-2024 09:30:00 +0000."""
        line = b"APPEND " + quote(mailbox) + b" (" + " ".join(flags).encode() + b")"
        if internal_date:
            line += b' "' + internal_date.encode() + b'"'
        return self.command(line, message)

    def logout(self):
        try:
            self.command(b"LOGOUT")
        finally:
            self.sock.close()

    def _line(self):
        answer = self.file.readline()
        if not answer:
            raise ImapError("the server closed the connection")
        return answer
