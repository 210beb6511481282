"""Believable East African names, phone numbers, national ids and addresses for demo customers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

FIRST_NAMES = (
    "Achieng", "Akinyi", "Amina", "Anyango", "Atieno", "Auma", "Baraka", "Brian", "Chebet",
    "Cherono", "Dennis", "Esther", "Faith", "Fatuma", "Grace", "Halima", "Hassan", "Jabari",
    "Jelimo", "Joseph", "Juma", "Kamau", "Kariuki", "Kibet", "Kiprop", "Lilian", "Makena",
    "Mercy", "Mohamed", "Moraa", "Mwanajuma", "Mwende", "Naliaka", "Nafula", "Nekesa", "Neema",
    "Njeri", "Njoroge", "Nyambura", "Ochieng", "Odhiambo", "Omondi", "Otieno", "Rehema",
    "Salim", "Sharon", "Wafula", "Wambui", "Wanjiku", "Wanjiru", "Wekesa", "Zawadi", "Zuberi",
    "Abdalla", "Kerubo", "Kemunto", "Tabitha", "Rashid", "Saida", "Mwangi",
)  # fmt: skip

LAST_NAMES = (
    "Achieng", "Barasa", "Chege", "Cheruiyot", "Gitau", "Hamisi", "Kamau", "Karanja", "Kemboi",
    "Kiprono", "Kiprotich", "Kipchumba", "Korir", "Langat", "Makori", "Masinde", "Mbugua",
    "Mohamed", "Mutai", "Mutua", "Mwangi", "Mwinyi", "Nyaga", "Ndungu", "Njoroge", "Nyamweya",
    "Obiero", "Ochieng", "Odera", "Odhiambo", "Okello", "Oloo", "Omondi", "Onyango", "Opiyo",
    "Otieno", "Owino", "Ruto", "Said", "Salim", "Simiyu", "Wafula", "Wairimu", "Wambua",
    "Wanjala", "Wanyama", "Were", "Wekesa", "Kombo", "Bakari", "Juma", "Rotich", "Kirui",
)  # fmt: skip

BUSINESS_KINDS = (
    "Hardware", "Supermarket", "Butchery", "Salon", "Cyber Café", "Posho Mill", "Pharmacy",
    "Bakery", "Welding Works", "General Stores", "Hotel", "Agrovet", "Tailoring", "Garage",
)  # fmt: skip

STREETS = (
    "Moi", "Kenyatta", "Uhuru", "Nyerere", "Market", "Station", "Hospital", "Mosque", "Church",
    "School", "Kanu", "Jamhuri", "Harambee", "Biashara", "Mwembe", "Odinga", "Kilimo", "Ngong",
)  # fmt: skip


@dataclass(frozen=True)
class Town:
    name: str
    latitude: Decimal
    longitude: Decimal
    estates: tuple[str, ...]


# Service centre -> its town, with a centre point for GPS positions and a few estates.
TOWNS: dict[str, Town] = {
    "Kitale SC": Town(
        "Kitale", Decimal("1.0157"), Decimal("35.0062"), ("Milimani", "Section Six", "Bidii")
    ),
    "Eldoret SC": Town(
        "Eldoret", Decimal("0.5143"), Decimal("35.2698"), ("Langas", "Kapsoya", "Elgon View")
    ),
    "Kisumu SC": Town(
        "Kisumu", Decimal("-0.0917"), Decimal("34.7680"), ("Milimani", "Nyalenda", "Mamboleo")
    ),
    "Homa Bay SC": Town(
        "Homa Bay", Decimal("-0.5273"), Decimal("34.4571"), ("Arujo", "Shauri Yako", "Sofia")
    ),
    "Nyali SC": Town(
        "Nyali", Decimal("-4.0225"), Decimal("39.7186"), ("Kongowea", "Frere Town", "Links Road")
    ),
    "Likoni SC": Town(
        "Likoni", Decimal("-4.0833"), Decimal("39.6667"), ("Shika Adabu", "Mtongwe", "Timbwani")
    ),
    "Malindi SC": Town(
        "Malindi", Decimal("-3.2192"), Decimal("40.1169"), ("Shella", "Barani", "Casuarina")
    ),
    "Watamu SC": Town(
        "Watamu", Decimal("-3.3540"), Decimal("40.0199"), ("Gede", "Jacaranda", "Dongokundu")
    ),
}


@dataclass(frozen=True)
class Person:
    name: str
    phone: str
    national_id: str
    address: str
    latitude: Decimal
    longitude: Decimal


def person(rng: random.Random, town: Town, *, business: bool) -> Person:
    """One customer's details, drawn from ``rng`` (the caller seeds it, so reruns agree)."""
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    if business:
        name = f"{last} {rng.choice(BUSINESS_KINDS)}"
        address = f"Shop {rng.randint(1, 80)}, {rng.choice(STREETS)} Street, {town.name}"
    else:
        name = f"{first} {last}"
        address = (
            f"Plot {rng.randint(1, 999)}, {rng.choice(STREETS)} Road, "
            f"{rng.choice(town.estates)}, {town.name}"
        )
    # Kenyan mobile numbers: 07xx/01xx, written in international form.
    phone = f"+254{rng.choice('71')}{rng.randint(0, 99_999_999):08d}"
    national_id = f"{rng.randint(10_000_000, 39_999_999)}"
    jitter = Decimal("0.000001")

    def near(centre: Decimal) -> Decimal:
        return (centre + Decimal(rng.randint(-30_000, 30_000)) * jitter).quantize(jitter)

    return Person(name, phone, national_id, address, near(town.latitude), near(town.longitude))
