"""Files attached to messages: a size limit, a count limit, and an allow-list of types checked by content."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from ..errors import InvalidAttachment
from ..models import Attachment, Message

# what a file's first bytes say it is → (content type, extension)
SIGNATURES = [
    (b"%PDF-", ("application/pdf", "pdf")),
    (b"\x89PNG\r\n\x1a\n", ("image/png", "png")),
    (b"\xff\xd8\xff", ("image/jpeg", "jpg")),
    (b"GIF87a", ("image/gif", "gif")),
    (b"GIF89a", ("image/gif", "gif")),
]


def sniff(head: bytes) -> tuple[str, str] | None:
    for magic, kind in SIGNATURES:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ("image/webp", "webp")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return ("text/plain", "txt") if b"\x00" not in head else None


def check_attachments(files: Sequence) -> list[tuple[object, str, str]]:
    """Refuse (400, naming the file) anything too big, too many, or not a PDF, image or plain text."""
    limit, most = settings.WAYBILL_SUPPORT_ATTACHMENT_MAX_BYTES, settings.WAYBILL_SUPPORT_ATTACHMENTS_PER_MESSAGE
    if len(files) > most:
        raise InvalidAttachment(f"At most {most} attachments per message.", fields={"attachments": ["Too many."]})
    checked = []
    for upload in files:
        name = (getattr(upload, "name", "") or "attachment").rsplit("/", 1)[-1][:200]
        size = getattr(upload, "size", 0) or 0
        if size <= 0 or size > limit:
            raise InvalidAttachment(f"{name} is {'empty' if size <= 0 else f'{size // 1024} KB'}: attachments are "
                                    f"at most {limit // (1024 * 1024)} MB.", fields={"attachments": [name]})
        upload.seek(0)
        kind = sniff(upload.read(16))
        upload.seek(0)
        if kind is None:
            raise InvalidAttachment(f"{name} is not a PDF, an image or a text file.", fields={"attachments": [name]})
        checked.append((upload, name, kind[0]))
    return checked


def stored_attachments(message: Message, files: Sequence) -> list[Attachment]:
    stored = []
    for upload, name, content_type in check_attachments(files):
        attachment = Attachment(message=message, filename=name, content_type=content_type, size=upload.size)
        attachment.file.save(name, upload, save=False)
        attachment.save()
        stored.append(attachment)
    return stored
