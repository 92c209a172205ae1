"""The demo article that the article page shows for a site's `rusia-as-dialog` thread: a
short news item in Poros Warta's style, retold in our own words (the original is not copied)."""
from datetime import date
from typing import NamedTuple


class DemoArticle(NamedTuple):
    id: str
    title: str
    url: str
    section: str
    byline: str
    published: date
    paragraphs: tuple[str, ...]


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


def find_demo_article(article_id: str) -> DemoArticle | None:
    return DEMO_ARTICLE if article_id == DEMO_ARTICLE.id else None
