"""The comments both benchmarks submit: a fixed, hand-written mix of benign, spam and toxic
comments in Indonesian and English, the kind a news site's threads receive."""
import itertools

COMMENTS = {
    "benign": [
        "Semoga dialog kedua negara membawa perdamaian yang nyata.",
        "Terima kasih atas liputannya, sangat membantu memahami konteks konflik ini.",
        "Saya kurang setuju dengan analisis di paragraf ketiga, datanya sudah lama.",
        "Harga beras di pasar dekat rumah saya naik lagi minggu ini, semoga pemerintah cepat bertindak.",
        "Artikel yang bagus. Apakah ada data pembanding dari tahun lalu?",
        "Mohon diperbaiki, nama menterinya salah ketik di judul.",
        "Kapan jadwal perbaikan jalan di Jalan Sudirman selesai? Macet sekali tiap pagi.",
        "Semoga timnas bisa lolos ke putaran berikutnya, ayo Garuda!",
        "Thanks for the balanced reporting, it is rare to see both sides quoted.",
        "I think the article misses the economic angle; sanctions hit ordinary people first.",
        "Could you link the original report? I would like to read the full numbers.",
        "Great interview. The part about water rights in the villages was eye-opening.",
        "My family lives near the flood area, the situation is still bad there.",
        "Interesting piece, though the headline is a bit misleading.",
    ],
    "spam": [
        "Slot gacor hari ini pasti maxwin! Daftar sekarang di situs terpercaya, link alternatif di bio.",
        "Bosen kalah terus? Main di GACOR88 aja, deposit pulsa tanpa potongan, WD berapapun dibayar!",
        "Butuh dana cepat? Pinjaman online cair 5 menit tanpa BI checking, hubungi WA 0812-3456-7890.",
        "Info bandar togel terpercaya, bonus new member 100%, kunjungi situs kami sekarang juga!",
        "Jual followers Instagram murah, 1000 followers cuma 20rb, order via WA 0857-1234-5678.",
        "Mau cuan tiap hari? Gabung grup sinyal trading kami, profit dijamin 30% per minggu!",
        "Situs judi bola resmi, odds terbaik, cashback mingguan. Daftar lewat link di profil!",
        "Earn $500 a day working from home! Click the link in my profile to start today.",
        "Check out my channel for free gift cards and giveaways, subscribe now!!!",
        "Congratulations! You have been selected to win a free iPhone, claim at the link below.",
        "Best online casino bonus 200% on first deposit, play now and win big.",
        "Cheap Ray-Ban sunglasses 90% off, limited time only, visit our store now.",
    ],
    "toxic": [
        "Dasar goblok, penulis artikel ini nggak ngerti apa-apa soal politik.",
        "Otak udang semua yang komen di sini, bangsat!",
        "Pejabat tolol, kerjanya cuma korupsi dan makan gaji buta, anjing!",
        "Kampungan banget lu, mending tutup mulut daripada bikin malu.",
        "Bodoh banget sih, baca dulu beritanya baru komen, dungu!",
        "Mampus aja lu semua, bajingan tidak tahu diri.",
        "You are a complete idiot, nobody cares about your stupid opinion.",
        "Shut up, you moron. People like you are the reason this country is trash.",
        "What a pathetic loser, go back to your basement you worthless clown.",
        "This writer is a dumb piece of garbage, fire him already.",
        "Stupid bitch, nobody asked for your opinion.",
    ],
}
DEFAULT_MIX = {"benign": 0.7, "spam": 0.15, "toxic": 0.15}
AUTHORS = [
    ("Budi Santoso", "budi.santoso@example.co.id"),
    ("Siti Rahmawati", "siti.rahma@example.id"),
    ("Agus Wijaya", "agus.w@example.com"),
    ("Dewi Lestari", "dewi.lestari@example.net"),
    ("John Carter", "john.carter@example.com"),
    ("Maria Lopez", "maria.lopez@example.org"),
]
ARTICLES = [
    ("rusia-as-dialog", "Rusia dan Amerika Serikat: Upaya Memulihkan Dialog"),
    ("harga-beras-naik", "Harga Beras Naik Tiga Pekan Berturut-turut"),
    ("banjir-demak", "Banjir Demak: Ribuan Warga Mengungsi"),
]
USER_AGENT = "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile"


def labels(count: int, mix: dict[str, float] = DEFAULT_MIX) -> list[str]:
    """`count` labels in the mix's proportions, interleaved deterministically (no RNG)."""
    out, owed = [], dict.fromkeys(mix, 0.0)
    for _ in range(count):
        for label, share in mix.items():
            owed[label] += share
        label = max(owed, key=owed.get)
        owed[label] -= 1
        out.append(label)
    return out


def payload(index: int, label: str = "benign", content: str | None = None) -> dict:
    """The JSON body of the index-th comment with the given label, as a site would post it."""
    texts = COMMENTS[label]
    name, email = AUTHORS[index % len(AUTHORS)]
    email = email.replace("@", f"+{index}@")  # one author repeating a text to a thread is a duplicate (409)
    article_id, title = ARTICLES[index % len(ARTICLES)]
    return {
        "article_id": article_id,
        "article_title": title,
        "article_url": f"https://poroswarta.example/{article_id}",
        "author_name": name,
        "author_email": email,
        "content": content if content is not None else texts[index % len(texts)],
        "user_ip": f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}",
        "user_agent": USER_AGENT,
        "referrer": f"https://poroswarta.example/{article_id}",
    }


def all_texts() -> list[str]:
    return list(itertools.chain.from_iterable(COMMENTS.values()))
