"""The demo: the articles the article page shows, and what `make run` seeds for moderators.

`rusia-as-dialog` is a short news item in Poros Warta's style, retold in our own words (the
original is not copied). `tirtamulya-banjir` is a made-up local story; `seed_demo_comments`
fills its thread with 50 comments written for this project (clean, spammy and toxic; in
Indonesian, English and both; some in "alay" spelling) through the same path as the API.
The article is premoderated, so after the real checks every one of them waits in the
flagged queue with real model scores.
"""
from datetime import date, timedelta
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from .submissions import submit_comment
from .db import transaction
from .moderators import create_moderator, set_password
from .schemas import CommentIn
from .sites import SiteRef, find_site
from .tables import Article, Comment, Moderator, utcnow
from .transitions import transition

DEMO_MODERATOR = "demo"


class DemoArticle(NamedTuple):
    id: str
    title: str
    url: str
    section: str
    byline: str
    published: date
    paragraphs: tuple[str, ...]


class DemoComment(NamedTuple):
    """One seeded comment; `reply_to` is the `key` of an earlier, published one."""

    key: str
    minutes_ago: int
    author: str
    email: str
    content: str
    url: str | None = None
    reply_to: str | None = None
    published: bool = False  # approved before the thread was put under premoderation


DEMO_ARTICLE = DemoArticle(
    id="rusia-as-dialog",
    title="Rusia dan Amerika Serikat: Upaya Memulihkan Dialog",
    url="https://poroswarta.example/internasional/rusia-as-dialog",
    section="Internasional",
    byline="Redaksi Poros Warta",
    published=date(2025, 3, 4),
    paragraphs=(
        "Setelah bertahun-tahun saling menjauh, Moskow dan Washington kembali memberi isyarat ingin "
        "duduk bersama. Kremlin, lewat juru bicaranya Dmitry Peskov, menyebut kedua presiden kini "
        "sama-sama punya kehendak politik untuk membuka lagi jalur komunikasi.",
        "Meski begitu, Peskov mengingatkan agar publik tidak berharap terlalu cepat. Rasa saling "
        "percaya, katanya, hanya bisa tumbuh lewat rangkaian langkah kecil yang ditempuh dengan "
        "sabar, dan jalan menuju hubungan yang normal masih panjang.",
        "Kerja sama ekonomi pun belum menjadi agenda dekat. Menurut Kremlin, pembicaraan soal "
        "perdagangan dan investasi baru masuk akal setelah perang di Ukraina usai; sejauh ini belum "
        "ada naskah perjanjian bilateral yang disusun.",
        "Satu bidang yang kerap disebut adalah logam tanah jarang, bahan yang sangat dibutuhkan "
        "industri Amerika dan tersimpan dalam jumlah besar di perut bumi Rusia. Moskow menegaskan "
        "punya rencana sendiri atas kekayaan itu, tetapi tetap membuka pintu bagi kesepakatan yang "
        "menguntungkan kedua pihak.",
    ),
)

FLOOD_ARTICLE = DemoArticle(  # a made-up city and plan, written for the demo
    id="tirtamulya-banjir",
    title="Tirtamulya Siapkan Rencana Induk Pengendalian Banjir Lima Tahun",
    url="https://poroswarta.example/kota/tirtamulya-banjir",
    section="Kota",
    byline="Redaksi Poros Warta",
    published=date(2025, 3, 6),
    paragraphs=(
        "Pemerintah Kota Tirtamulya memaparkan rancangan rencana induk pengendalian banjir untuk lima "
        "tahun ke depan. Dokumen itu disusun setelah genangan setinggi lutut merendam tiga kecamatan di "
        "sisi timur kota selama hampir sepekan pada musim hujan lalu.",
        "Rancangan tersebut memuat pengerukan dan pelebaran Sungai Cibening, pembangunan empat kolam "
        "retensi, penambahan pompa air di titik-titik rawan, serta perbaikan saluran di permukiman "
        "padat. Nilai seluruh pekerjaan diperkirakan mencapai Rp 1,2 triliun.",
        "Bagian yang paling banyak dipertanyakan warga adalah rencana penataan bantaran sungai. Sekitar "
        "300 rumah berada di jalur pelebaran, dan pemerintah kota berjanji relokasi hanya dilakukan "
        "setelah musyawarah dengan setiap keluarga.",
        "Pemerintah kota juga akan mengirim peringatan dini lewat pesan singkat ketika tinggi muka air "
        "di hulu melewati batas siaga. Konsultasi publik atas rancangan ini dibuka di kantor kelurahan "
        "dan secara daring hingga akhir bulan.",
    ),
)
DEMO_ARTICLES = {article.id: article for article in (DEMO_ARTICLE, FLOOD_ARTICLE)}

# Oldest first, so that every reply comes after the comment it answers. Links are made up.
DEMO_COMMENTS = tuple(sorted((
    DemoComment("rina-plan", 478, "Rina Kusuma", "rina.kusuma@example.co.id",
                "Akhirnya ada rencana yang jelas. Semoga kolam retensinya benar-benar dibangun, bukan cuma jadi "
                "gambar di presentasi.", published=True),
    DemoComment("hendra-relocation", 465, "Hendra Wijaya", "hendra.w@example.com",
                "Warga bantaran kali harus diajak bicara dari awal, jangan sampai relokasi dilakukan mendadak "
                "seperti di kota lain.", url="https://hendra.example.net", published=True),
    DemoComment("gacor-1", 452, "Dewi Maxwin", "dewi.maxwin@example.net",
                "Bosen kebanjiran? mending main SLOT GACOR hari ini pasti MAXWIN 🔥🔥 daftar sekarang "
                "bit.ly/tirta-gacor88"),
    DemoComment("margaret-reports", 440, "Margaret Lee", "m.lee@example.org",
                "Good to see a five-year plan with a real budget. I hope the council publishes a progress report "
                "every quarter.", published=True),
    DemoComment("jago-mayor", 431, "Bang Jago", "bangjago@example.com",
                "Walikota goblok, dari dulu kerjanya cuma rapat dan foto-foto doang."),
    DemoComment("dimas-execution", 418, "Dimas Arya", "dimas.arya@example.com",
                "Honestly this plan looks solid, tapi eksekusinya yang sering bermasalah. Let's see."),
    DemoComment("putri-alay", 406, "Putri Ayu", "putri.ayu@example.co.id",
                "smg bnr2 trwjd y pak wali, tiap ujan rmh q kebanjiran trs nih 😭😭", published=True),
    DemoComment("g4c0r-scatter", 397, "Admin G4C0R77", "admin.g4c0r77@example.net",
                "g4c0r77 lg bagi2 sc4tter hitam!! deposit pulsa tanpa potongan, WD cepat 5 menit, daftar "
                "sekarang juga"),
    DemoComment("bambang-drainage", 385, "Ir. Bambang Susilo", "bambang.susilo@example.co.id",
                "Normalisasi sungai saja tidak cukup. Saluran di permukiman juga perlu diperbesar, kalau tidak air "
                "tetap menggenang di gang-gang kecil.", url="https://bambang-hidro.example.org", published=True),
    DemoComment("jago-hendra", 371, "Bang Jago", "bangjago@example.com",
                "Halah sok pinter lu. Orang bantaran itu yang buang sampah sembarangan, biarin aja kebanjiran.",
                reply_to="hendra-relocation"),
    DemoComment("tom-east", 360, "Tom Harrison", "tom.harrison@example.com",
                "As someone who moved here two years ago, the flooding in the east district was a shock. Glad it "
                "is finally being addressed."),
    DemoComment("pulauwin", 349, "Pulau Win Official", "cs.pulauwin@example.net",
                "p u l a u w i n - situs slot resmi, RTP 98% malam ini!! link alternatif: s.id/pulauwin-login",
                url="https://pulauwin.example"),
    DemoComment("kevin-alay", 338, "kevin_gaul", "kevin.gaul@example.com",
                "wkwkwk tiap taun jg ngomong gini, tp yaudah lah kita tunggu aja bkti nya 😂", published=True),
    DemoComment("realtalk-naive", 326, "RealTalk_77", "realtalk77@example.com",
                "Quarterly reports? What a naive idiot. Nobody reads those.", reply_to="margaret-reports"),
    DemoComment("loan-fast", 314, "QuickCash Finance", "offers@example.biz",
                "Need a fast loan? Approved in 10 minutes, no credit check, low interest. Apply now: "
                "tinyurl.com/quickcash-loan-now"),
    DemoComment("sari-budget", 303, "Sari Dewi", "sari.dewi@example.co.id",
                "Rp 1,2 triliun itu besar banget. Semoga ada transparansi, maybe publish the contracts online?", published=True),
    DemoComment("warga-tolol", 291, "Warga Kesal", "wargakesal@example.com",
                "Dasar pejabat tolol, otak udang semua, duit rakyat dihabiskan buat proyek gak jelas!"),
    DemoComment("yusuf-question", 280, "Yusuf Hamdani", "yusuf.hamdani@example.co.id",
                "Ada yang tahu kapan konsultasi publiknya dibuka? Saya mau ikut kasih masukan dari RT kami.", published=True),
    DemoComment("zeus-modal", 270, "Dewi Maxwin", "dewi.maxwin@example.net",
                "Modal 10rb jadi 2jt cuma di ZEUS88 🎰 bonus new member 100%, klik link di bio"),
    DemoComment("rina-answer", 262, "Rina Kusuma", "rina.kusuma@example.co.id",
                "Katanya sampai akhir bulan ini, Pak. Formulirnya ada di kantor kelurahan, bisa juga isi daring.",
                reply_to="yusuf-question"),
    DemoComment("crypto-mentor", 251, "Laura Whitfield", "laura.fx@example.com",
                "I made $4,800 last week trading Bitcoin with my mentor's signals. Message her today and start "
                "earning passive income, limited slots!!", url="https://fx-mentor.example"),
    DemoComment("dimas-culvert", 240, "Dimas Arya", "dimas.arya@example.com",
                "Setuju, Pak. Gorong-gorong di depan pasar itu sudah lama tersumbat sampah.",
                reply_to="bambang-drainage"),
    DemoComment("jago-redaksi", 229, "Bang Jago", "bangjago@example.com",
                "Redaksi ini bego ya, nulis berita kok kayak humas pemkot. Dibayar berapa lu?"),
    DemoComment("margaret-parks", 219, "Margaret Lee", "m.lee@example.org",
                "Retention ponds can double as parks in the dry season. Other cities have done this well."),
    DemoComment("pola-mahjong", 208, "Info Pola Hoki", "pola.hoki@example.net",
                "Info bocoran pola mahjong ways 2 jam hoki hari ini, dijamin jp paus 🐳 cek cutt.ly/pola-hoki-tm"),
    DemoComment("mike-clowns", 198, "Mike D.", "miked@example.com",
                "Shut up, you clowns in city hall are pathetic and useless."),
    DemoComment("nur-thanks", 189, "Nur Aini", "nur.aini@example.co.id",
                "Terima kasih Poros Warta, beritanya lengkap dan mudah dipahami."),
    DemoComment("anon-putri", 180, "Anon123", "anon123@example.com",
                "ya salah sendiri tinggal di situ, dasar bodoh 🤣", reply_to="putri-alay"),
    DemoComment("fullwidth-promo", 171, "promo", "promo.slot@example.net",
                "ｓｌｏｔ ｇａｃｏｒ ｄｅｐｏ ２５ｒｂ ｂｏｎｕｓ ２５ｒｂ ｄａｆｔａｒ ｓｅｋａｒａｎｇ"),
    DemoComment("tom-timeline", 162, "Tom Harrison", "tom.harrison@example.com",
                "Fair point, but this time there is a published timeline, so we can hold them to it.",
                reply_to="kevin-alay"),
    DemoComment("mela-alay", 153, "Mela Cantika", "mela.cantika@example.co.id",
                "ciyus nii pompa air nya mau d tambah?? moga2 gk rusak lg kyk kmrn"),
    DemoComment("rudi-kampret", 144, "Rudi H.", "rudi.h@example.com",
                "Kalian semua kampret, tiap tahun janji doang, muak gw liat muka kalian."),
    DemoComment("togel-4d", 136, "Bandar Togel 4D", "bandar4d@example.net",
                "Togel online terpercaya, pasaran lengkap, diskon 4D terbesar. DAFTAR SEKARANG juga!!"),
    DemoComment("andi-fence", 128, "Andi Pratama", "andi.pratama@example.com",
                "Kolam retensinya dekat sekolah anak saya, semoga aman ya. Safety fences please!"),
    DemoComment("realtalk-morons", 120, "RealTalk_77", "realtalk77@example.com",
                "This comment section is full of morons. Read the plan before you whine, stupid."),
    DemoComment("sultan-cuan", 112, "Sultan Cuan", "sultan.cuan@example.net",
                "Banjir di mana-mana, tapi cuan tetap ngalir di SITUS GACOR 🌊💰 link di profil"),
    DemoComment("hendra-kerja-bakti", 104, "Hendra Wijaya", "hendra.w@example.com",
                "Sebagai warga Sukamaju, kami siap kerja bakti membersihkan saluran tiap bulan.",
                url="https://hendra.example.net"),
    DemoComment("warga-tipu", 96, "Warga Kesal", "wargakesal@example.com",
                "Anggota dewan yang setuju anggaran ini pantas dipecat, dasar tukang tipu, sampah masyarakat!"),
    DemoComment("homework-income", 88, "Jenny Work", "jenny.work@example.biz",
                "Earn $500 per day working from home, no experience needed!! Click here: bit.ly/easy-home-income"),
    DemoComment("nyinyir-sari", 80, "Kang Nyinyir", "kang.nyinyir@example.com",
                "Transparansi? Mimpi lu ketinggian, dasar sok idealis bego.", reply_to="sari-budget"),
    DemoComment("pinjol", 72, "Dana Kilat", "dana.kilat@example.net",
                "Pinjaman online cair 5 menit tanpa jaminan, bunga rendah, langsung transfer. Hubungi admin via "
                "WhatsApp sekarang!"),
    DemoComment("sari-map", 64, "Sari Dewi", "sari.dewi@example.co.id",
                "Kalau bisa, titik-titik banjir dibuka ke publik dalam bentuk peta daring. Open data helps "
                "everyone."),
    DemoComment("mike-idiots", 56, "Mike D.", "miked@example.com",
                "You people are idiots if you believe any of this. Stupid plan from a stupid mayor."),
    DemoComment("gacor-rina", 48, "Dewi Maxwin", "dewi.maxwin@example.net",
                "Kak Rina daripada pusing mikirin banjir mending cuan di 𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑 𝐌𝐀𝐗𝐖𝐈𝐍, wd berapapun "
                "dibayar 💸", reply_to="rina-plan"),
    DemoComment("anon-bambang", 40, "Anon123", "anon123@example.com",
                "Diam kau penjilat pemkot! goblok kok dipelihara.", reply_to="bambang-drainage"),
    DemoComment("crypto-gems", 33, "MoonSignals", "moon.signals@example.com",
                "Check out my channel for daily crypto signals 🚀🚀 100x gems before they pump!! subscribe now"),
    DemoComment("rina-elderly", 25, "Rina Kusuma", "rina.kusuma@example.co.id",
                "Untuk peringatan dini lewat SMS, tolong warga lansia juga didata supaya tidak ketinggalan "
                "informasi."),
    DemoComment("nyinyir-bacot", 17, "Kang Nyinyir", "kang.nyinyir@example.com",
                "bacot doang lu semua, mending banjir sekalian biar pada kapok"),
    DemoComment("slot-wd", 10, "Bayu Hoki", "bayu.hoki@example.net",
                "nemu situs slot yg beneran gacor, kemaren wd 3 juta 😱 yg mau link nya DM aja"),
    DemoComment("greg-crooks", 3, "Greg P.", "greg.p@example.com",
                "What a disgusting waste of money. The council are a bunch of lying crooks."),
    DemoComment("lina-pumps", 58, "Lina Marlina", "lina.marlina@example.co.id",
                "Pompa air di Kelurahan Sukasari sering mati waktu hujan deras. Semoga rencana ini juga "
                "memperhitungkan perawatan pompa, bukan cuma pembangunan baru."),
    DemoComment("ahmad-schools", 52, "Ahmad Fauzi", "ahmad.fauzi@example.com",
                "Sekolah anak saya tiga kali diliburkan tahun ini gara-gara banjir. Mohon sekolah di dataran "
                "rendah jadi prioritas."),
    DemoComment("claire-green", 45, "Claire Dubois", "claire.dubois@example.org",
                "Green roofs and permeable pavements could help too. Other cities in the region have had good "
                "results with them."),
    DemoComment("yanto-market", 38, "Yanto Saputra", "yanto.s@example.co.id",
                "Pedagang pasar induk juga perlu diajak rembuk, jangan sampai penggusuran kios jadi kejutan."),
    DemoComment("dewi-warning", 30, "Dewi Lestari", "dewi.lestari@example.co.id",
                "Kalau bisa ada sistem peringatan dini lewat SMS atau WA, biar warga sempat menyelamatkan "
                "barang-barang."),
    DemoComment("raka-mix", 22, "Raka", "raka.pratama@example.com",
                "Good article, tapi angka Rp 1,2 triliun itu untuk lima tahun atau per tahun? Mohon diperjelas."),
    DemoComment("sinta-volunteer", 14, "Sinta Maharani", "sinta.m@example.co.id",
                "Komunitas kami siap bantu bersih-bersih saluran tiap akhir pekan. Hubungi kelurahan saja."),
    DemoComment("budi-thanks", 6, "Budi Santoso", "budi.santoso@example.co.id",
                "Terima kasih Poros Warta sudah meliput sampai detail. Ditunggu kelanjutannya."),

), key=lambda comment: -comment.minutes_ago))


CHILDREN_SITE = "poros-anak"
CHILDREN_POLICY = {  # a children's section: nothing rude, no links, new authors wait for a human
    "block_words": ["bodoh", "goblok", "tolol", "gacor", "slot"],
    "link_cap": 0,
    "hold_new_authors": 1,
    "thresholds": {"toxicity": {"flag": 0.2}},
}


def find_demo_article(article_id: str) -> DemoArticle | None:
    return DEMO_ARTICLES.get(article_id)


def seed_demo_moderator(session: Session, password: str) -> Moderator:
    """The demo admin, `demo`, with this password (reset if the stored one differs, so the
    login `make run` prints always works). The caller commits."""
    moderator = session.scalar(select(Moderator).where(Moderator.username == DEMO_MODERATOR))
    if moderator is None:
        return create_moderator(session, DEMO_MODERATOR, password, role="admin")
    if not check_password_hash(moderator.password_hash, password):
        set_password(moderator, password)
    moderator.role, moderator.is_active = "admin", True
    return moderator


def seed_demo_comments(app, site_slug: str) -> int:
    """Post DEMO_COMMENTS to the site's premoderated FLOOD_ARTICLE thread exactly as the API
    would, date them over the last hours, and enqueue their checks; returns how many were
    posted (none when the thread has comments already)."""
    article = FLOOD_ARTICLE
    now = utcnow()
    with transaction(app.extensions["sessions"]) as session:
        site = find_site(session, site_slug)
        thread = session.scalar(select(Article).where(Article.site_id == site.id, Article.external_id == article.id))
        if thread is None:
            thread = Article(site_id=site.id, external_id=article.id, url=article.url, title=article.title,
                             created_at=now - timedelta(minutes=DEMO_COMMENTS[0].minutes_ago + 30))
            session.add(thread)
        elif session.scalar(select(Comment.id).where(Comment.article_id == thread.id).limit(1)) is not None:
            return 0
        thread.premoderated = True
        ref = SiteRef(site.id, site.slug)
    posted: dict[str, str] = {}
    for comment in DEMO_COMMENTS:
        data = CommentIn(article_id=article.id, article_title=article.title, article_url=article.url,
                         author_name=comment.author, author_email=comment.email, author_url=comment.url,
                         content=comment.content, parent_id=posted[comment.reply_to] if comment.reply_to else None)
        posted[comment.key] = submit_comment(app.extensions["engine"], ref, data, app.extensions["vault"],
                                             app.extensions.setdefault("articles", {}))
        with transaction(app.extensions["sessions"]) as session:
            stored = session.scalar(select(Comment).where(Comment.public_id == posted[comment.key]))
            stored.created_at = now - timedelta(minutes=comment.minutes_ago)
            if comment.published:  # replies answer published comments only
                transition(session, stored, "approved", actor="demo", reasons={"rule": "published_before_demo"})
    for comment in DEMO_COMMENTS:
        if not comment.published:
            app.extensions["checks"].enqueue(posted[comment.key])
    return sum(not comment.published for comment in DEMO_COMMENTS)
