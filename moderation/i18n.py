"""The reader-facing words (the article page, the embeddable widget), in Indonesian (the
default) and English (?lang=en, data-lang="en")."""
from datetime import date, datetime, timedelta, timezone

LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
WIB = timezone(timedelta(hours=7), "WIB")  # the first customer's readers are in Jakarta

STRINGS = {
    "id": {
        "other_language": "English",
        "other_language_code": "en",
        "article": "Artikel",
        "by": "Oleh",
        "comments": "Komentar",
        "no_comments": "Belum ada komentar. Jadilah yang pertama menanggapi.",
        "older_comments": "← Komentar sebelumnya",
        "newer_comments": "Komentar berikutnya →",
        "reply": "Balas",
        "awaiting": "Komentar Anda menunggu moderasi.",
        "not_published": "Komentar Anda tidak diterbitkan.",
        "leave_reply": "Tinggalkan Balasan",
        "reply_to": "Balas ke {name}",
        "cancel_reply": "Batalkan balasan",
        "privacy_note": "Alamat email Anda tidak akan dipublikasikan. Ruas yang wajib ditandai *",
        "content": "Komentar",
        "author_name": "Nama",
        "author_email": "Email",
        "author_url": "Situs Web",
        "submit": "Kirim Komentar",
        "form_has_errors": "Komentar Anda belum terkirim. Periksa isian yang ditandai.",
        "form_expired": "Formulir ini sudah kedaluwarsa. Periksa isian Anda, lalu kirim lagi.",
        "required_content": "Silakan tulis komentar Anda.",
        "required_author_name": "Silakan isi nama Anda.",
        "required_author_email": "Silakan isi alamat email Anda.",
        "invalid_email": "Masukkan alamat email yang valid, misalnya nama@contoh.co.id.",
        "invalid_url": "Masukkan alamat web lengkap yang diawali http:// atau https://.",
        "invalid_text": "Teks ini berisi karakter yang tidak dapat disimpan.",
        "invalid_value": "Isian ini tidak valid.",
        "unknown_parent": "Komentar yang Anda balas tidak ditemukan.",
        "too_long": "Paling banyak {limit} karakter.",
        "not_found_title": "Halaman tidak ditemukan",
        "not_found": "Situs atau artikel yang Anda cari tidak ada.",
        "moderated_by": "Komentar di halaman ini dimoderasi oleh Saring.",
        "sending": "Mengirim…",
        "not_sent": "Komentar Anda belum terkirim. Coba lagi sebentar lagi.",
        "not_accepted": "Komentar ini tidak dapat diterima di diskusi ini.",
        "thread_closed": "Kolom komentar untuk artikel ini sudah ditutup.",
        "duplicate": "Anda sudah mengirim komentar yang sama.",
        "too_many": "Terlalu banyak komentar dalam waktu singkat. Coba lagi dalam {seconds} detik.",
        "load_failed": "Komentar tidak dapat dimuat saat ini.",
        "leave_empty": "Biarkan ruas ini kosong",
        "at": "pukul",
        "months": (
            "Januari", "Februari", "Maret", "April", "Mei", "Juni",
            "Juli", "Agustus", "September", "Oktober", "November", "Desember",
        ),
        "thousands": ".",
        "time_separator": ".",
    },
    "en": {
        "other_language": "Bahasa Indonesia",
        "other_language_code": "id",
        "article": "Article",
        "by": "By",
        "comments": "Comments",
        "no_comments": "No comments yet. Be the first to respond.",
        "older_comments": "← Older comments",
        "newer_comments": "Newer comments →",
        "reply": "Reply",
        "awaiting": "Your comment is awaiting moderation.",
        "not_published": "Your comment was not published.",
        "leave_reply": "Leave a Reply",
        "reply_to": "Reply to {name}",
        "cancel_reply": "Cancel reply",
        "privacy_note": "Your email address will not be published. Required fields are marked *",
        "content": "Comment",
        "author_name": "Name",
        "author_email": "Email",
        "author_url": "Website",
        "submit": "Post Comment",
        "form_has_errors": "Your comment was not sent. Please check the marked fields.",
        "form_expired": "This form has expired. Check your entry, then send it again.",
        "required_content": "Please type your comment.",
        "required_author_name": "Please enter your name.",
        "required_author_email": "Please enter your email address.",
        "invalid_email": "Enter a valid email address, like name@example.com.",
        "invalid_url": "Enter a full web address starting with http:// or https://.",
        "invalid_text": "This text contains characters that cannot be stored.",
        "invalid_value": "This value is not valid.",
        "unknown_parent": "The comment you are replying to was not found.",
        "too_long": "Must be at most {limit} characters.",
        "not_found_title": "Page not found",
        "not_found": "The site or article you are looking for does not exist.",
        "moderated_by": "Comments on this page are moderated by Saring.",
        "sending": "Sending…",
        "not_sent": "Your comment was not sent. Please try again in a moment.",
        "not_accepted": "This comment cannot be accepted in this discussion.",
        "thread_closed": "Comments on this article are closed.",
        "duplicate": "You have already sent this same comment.",
        "too_many": "Too many comments in a short time. Try again in {seconds} seconds.",
        "load_failed": "Comments could not be loaded right now.",
        "leave_empty": "Leave this field empty",
        "at": "at",
        "months": (
            "January", "February", "March", "April", "May", "June",
            "July", "August", "September", "October", "November", "December",
        ),
        "thousands": ",",
        "time_separator": ":",
    },
}


def pick_language(requested: str | None) -> str:
    """The requested language if the pages speak it, else Indonesian."""
    return requested if requested in LANGUAGES else DEFAULT_LANGUAGE


def format_number(number: int, lang: str) -> str:
    """65525 -> '65.525' (Indonesian) or '65,525' (English)."""
    return f"{number:,}".replace(",", STRINGS[lang]["thousands"])


def format_day(day: date, lang: str) -> str:
    """'4 Maret 2025' or '4 March 2025'."""
    return f"{day.day} {STRINGS[lang]['months'][day.month - 1]} {day.year}"


def format_when(moment: datetime, lang: str) -> str:
    """'27 November 2025 pukul 15.16 WIB', in Jakarta time (stored times are UTC; SQLite
    hands them back without a zone)."""
    words = STRINGS[lang]
    local = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(WIB)
    clock = f"{local:%H}{words['time_separator']}{local:%M}"
    return f"{format_day(local, lang)} {words['at']} {clock} WIB"
