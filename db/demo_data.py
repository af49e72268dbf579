"""The demo contact centre: a realistic Czech internet and TV provider (R-6.3).

"NetMorava" serves customers in Brno and Ostrava through three queues. The data set is built
as the same structure the catalog YAML holds and loaded through :func:`db.catalog.load_catalog`
(dumped with ``yaml.safe_dump`` first), so the demo also exercises the loader. It is
deterministic for a seed and a day (the day decides which years' holidays are listed).

Every demo login's password is ``demo``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import yaml
from sqlalchemy.orm import Session

from db.catalog import LoadSummary, load_catalog

DEMO_PASSWORD = "demo"
DEMO_CUSTOMERS = 300  # regular customers; sharing variants, operators, pseudo come on top
DEMO_DOMAIN = "netmorava.example"  # RFC 2606: never a real mailbox


# --------------------------------------------------------------------------- holidays


def easter_sunday(year: int) -> date:
    """Easter Sunday of the Gregorian calendar (the anonymous Gregorian algorithm)."""
    golden = year % 19
    century, year_of_century = divmod(year, 100)
    leap_centuries, century_rest = divmod(century, 4)
    correction = (century + 8) // 25
    moon = (century - correction + 1) // 3
    epact = (19 * golden + century - leap_centuries - moon + 15) % 30
    leap_years, year_rest = divmod(year_of_century, 4)
    weekday = (32 + 2 * century_rest + 2 * leap_years - epact - year_rest) % 7
    shift = (golden + 11 * epact + 22 * weekday) // 451
    month, day = divmod(epact + weekday - 7 * shift + 114, 31)
    return date(year, month, day + 1)


def czech_public_holidays(year: int) -> list[tuple[date, str]]:
    """The thirteen Czech public holidays of ``year`` (Act 245/2000), in date order."""
    easter = easter_sunday(year)
    fixed = [
        (1, 1, "Den obnovy samostatného českého státu"),
        (5, 1, "Svátek práce"),
        (5, 8, "Den vítězství"),
        (7, 5, "Den slovanských věrozvěstů Cyrila a Metoděje"),
        (7, 6, "Den upálení mistra Jana Husa"),
        (9, 28, "Den české státnosti"),
        (10, 28, "Den vzniku samostatného československého státu"),
        (11, 17, "Den boje za svobodu a demokracii"),
        (12, 24, "Štědrý den"),
        (12, 25, "1. svátek vánoční"),
        (12, 26, "2. svátek vánoční"),
    ]
    days = [(date(year, m, d), name) for m, d, name in fixed]
    days.append((easter - timedelta(days=2), "Velký pátek"))
    days.append((easter + timedelta(days=1), "Velikonoční pondělí"))
    return sorted(days)


# --------------------------------------------------------------------------- people and places

_FEMALE = (
    "Jana", "Marie", "Eva", "Hana", "Anna", "Lenka", "Kateřina", "Lucie", "Věra", "Alena",
    "Petra", "Veronika", "Martina", "Jaroslava", "Tereza", "Michaela", "Zdeňka", "Ivana",
    "Monika", "Markéta", "Barbora", "Kristýna",
)  # fmt: skip
_MALE = (
    "Jiří", "Jan", "Petr", "Josef", "Pavel", "Martin", "Tomáš", "Jaroslav", "Miroslav",
    "Zdeněk", "Václav", "Michal", "František", "Jakub", "Milan", "Karel", "Lukáš", "David",
    "Ondřej", "Vojtěch",
)  # fmt: skip
# (male form, female form): Czech surnames agree with the person's gender.
_SURNAMES = (
    ("Novák", "Nováková"), ("Svoboda", "Svobodová"), ("Novotný", "Novotná"),
    ("Dvořák", "Dvořáková"), ("Černý", "Černá"), ("Procházka", "Procházková"),
    ("Kučera", "Kučerová"), ("Veselý", "Veselá"), ("Horák", "Horáková"), ("Němec", "Němcová"),
    ("Marek", "Marková"), ("Pospíšil", "Pospíšilová"), ("Pokorný", "Pokorná"),
    ("Hájek", "Hájková"), ("Král", "Králová"), ("Jelínek", "Jelínková"),
    ("Růžička", "Růžičková"), ("Beneš", "Benešová"), ("Fiala", "Fialová"),
    ("Sedláček", "Sedláčková"), ("Doležal", "Doležalová"), ("Zeman", "Zemanová"),
    ("Kolář", "Kolářová"), ("Navrátil", "Navrátilová"), ("Čermák", "Čermáková"),
)  # fmt: skip
_TRADES = (
    "Stavby", "Autoservis", "Elektro", "Truhlářství", "Instalatérství", "Účetní kancelář",
    "Pekařství", "Kadeřnictví", "Zahradnictví", "Stěhování", "Tiskárna", "Reality",
)  # fmt: skip
_VENUES = (
    "Restaurace U Zlatého lva", "Kavárna Pod Lípou", "Lékárna U Anděla", "Penzion Na Kopci",
    "Hospoda U Tří bratrů", "Cukrárna U Kostela", "Papírnictví Na Rohu", "Hotel Slavia",
)  # fmt: skip
_LEGAL = ("s.r.o.", "s.r.o.", "a.s.", "v.o.s.", "")


@dataclass(frozen=True)
class _City:
    code: str
    name: str
    contract_prefix: str
    streets: tuple[str, ...]
    postcodes: tuple[str, ...]
    landline_prefixes: tuple[str, ...]


_BRNO = _City(
    "BRNO",
    "Brno",
    "BR",
    (
        "Masarykova", "Kounicova", "Lidická", "Cejl", "Údolní", "Veveří", "Husova", "Křenová",
        "Palackého třída", "Štefánikova", "Bašty", "Jánská", "Kotlářská", "Vídeňská",
        "Křížová", "Slovákova", "Purkyňova", "Bystrcká",
    ),
    ("602 00", "612 00", "616 00", "623 00", "635 00", "638 00"),
    ("541", "543", "545", "548", "549"),
)  # fmt: skip
_OSTRAVA = _City(
    "OSTRAVA",
    "Ostrava",
    "OV",
    (
        "Nádražní", "28. října", "Stodolní", "Českobratrská", "Hlavní třída",
        "Dr. Šmerala", "Výstavní", "Sokolská třída", "Opavská", "Horní", "Závodní",
        "Hornopolní", "Poděbradova",
    ),
    ("702 00", "708 00", "709 00", "700 30", "710 00"),
    ("595", "596", "597", "599"),
)  # fmt: skip
_CITIES = (_BRNO, _OSTRAVA)
_MOBILE_PREFIXES = (
    "601", "602", "603", "604", "605", "606", "607", "608", "702", "703", "704", "705",
    "720", "721", "722", "723", "724", "725", "728", "730", "731", "732", "733", "734",
    "736", "737", "739", "773", "774", "775", "776", "777", "778", "792", "793", "797",
)  # fmt: skip
_NOTES = (
    "Preferuje kontakt e-mailem.",
    "Nevolat před 10:00.",
    "Loni reklamoval fakturu; vyřešeno.",
    "Dlouholetý zákazník, optika od roku 2015.",
    "Neslyšící člen domácnosti: další kontakt raději SMS.",
)


def _ascii(text: str) -> str:
    table = str.maketrans("áčďéěíňóřšťúůýžÁČĎÉĚÍŇÓŘŠŤÚŮÝŽ", "acdeeinorstuuyzACDEEINORSTUUYZ")
    return text.translate(table)


def _national_number(rng: random.Random, city: _City, *, landline: bool = False) -> str:
    prefix = rng.choice(city.landline_prefixes if landline else _MOBILE_PREFIXES)
    return prefix + f"{rng.randrange(1_000_000):06d}"


def _written(rng: random.Random, national: str) -> str:
    """A nine-digit number in one of the ways people write it (R-1.13's formats)."""
    a, b, c = national[:3], national[3:6], national[6:]
    return rng.choice(
        (
            f"{a} {b} {c}",
            f"{a} {b} {c}",
            f"+420 {a} {b} {c}",
            f"+420{national}",
            national,
            f"00420 {a} {b} {c}",
            f"420 {a} {b} {c}",
        )
    )


def _person(rng: random.Random) -> tuple[str, str, str]:
    """(first name, surname, full name) with the surname in the right gender."""
    female = rng.random() < 0.5
    first = rng.choice(_FEMALE if female else _MALE)
    surname = rng.choice(_SURNAMES)[1 if female else 0]
    return first, surname, f"{first} {surname}"


def _address(rng: random.Random, city: _City) -> str:
    house = f"{rng.randrange(1, 2400)}/{rng.randrange(1, 80)}"
    return f"{rng.choice(city.streets)} {house}, {rng.choice(city.postcodes)} {city.name}"


def _company(rng: random.Random) -> str:
    if rng.random() < 0.25:
        return rng.choice(_VENUES)
    surname = rng.choice(_SURNAMES)[0]
    legal = rng.choice(_LEGAL)
    return f"{rng.choice(_TRADES)} {surname} {legal}".strip()


# --------------------------------------------------------------------------- customers


def _customers(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Customers of both cities, with the number sharing that R-2.6 matching must handle."""
    serial = {city.code: 10000 for city in _CITIES}

    def contract(city: _City) -> str:
        serial[city.code] += 1
        return f"{city.contract_prefix}-{serial[city.code]}"

    customers: list[dict[str, Any]] = []
    for _ in range(count):
        city = _BRNO if rng.random() < 0.55 else _OSTRAVA
        is_company = rng.random() < 0.25
        phones = [_written(rng, _national_number(rng, city, landline=is_company))]
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            phones.append(_written(rng, _national_number(rng, city)))
        if rng.random() < 0.02:
            phones.append(
                f"+421 9{rng.randrange(10, 50)} {rng.randrange(1000):03d} {rng.randrange(1000):03d}"
            )  # a Slovak mobile: another prefix
        contacts: list[dict[str, str]] = []
        if is_company:
            name = _company(rng)
            for _ in range(rng.choice((1, 1, 2))):
                first, surname, full = _person(rng)
                contacts.append(
                    {
                        "name": full,
                        "phone": _written(rng, _national_number(rng, city)),
                        "email": f"{_ascii(first).lower()}.{_ascii(surname).lower()}@example.com",
                    }
                )
        else:
            name = _person(rng)[2]
        customers.append(
            {
                "contract_number": contract(city),
                "name": name,
                "location": city.code,
                "address": _address(rng, city),
                "active": rng.random() >= 0.08,
                "pseudo": False,
                "note": rng.choice(_NOTES) if rng.random() < 0.1 else "",
                "phones": _unique_numbers(phones),
                "contacts": _unique_names(contacts),
            }
        )

    extra: list[dict[str, Any]] = []
    active = [c for c in customers if c["active"]]
    # The contract passed to a family member: the old customer is inactive, same number
    # active before inactive).
    for old in rng.sample(active, 12):
        city = _BRNO if old["location"] == "BRNO" else _OSTRAVA
        extra.append(
            {
                **old,
                "contract_number": contract(city),
                "name": _person(rng)[2],
                "active": False,
                "note": f"Smlouva převedena na: {old['name']}.",
                "phones": [old["phones"][0]],
                "contacts": [],
            }
        )
    # The same person with a contract in each city: the queue's locations decide.
    for twin in rng.sample(active, 10):
        city = _OSTRAVA if twin["location"] == "BRNO" else _BRNO
        extra.append(
            {
                **twin,
                "contract_number": contract(city),
                "location": city.code,
                "address": _address(rng, city),
                "phones": [twin["phones"][0]],
                "contacts": [],
            }
        )
    # Two active customers of one city on one number: the agent's location, else a pick list.
    for shared in rng.sample(active, 6):
        city = _BRNO if shared["location"] == "BRNO" else _OSTRAVA
        extra.append(
            {
                **shared,
                "contract_number": contract(city),
                "name": _person(rng)[2],
                "address": shared["address"],
                "phones": [shared["phones"][-1]],
                "contacts": [],
            }
        )
    # A contact person whose number is another customer's: "Company (contact)".
    companies = [c for c in customers if c["contacts"]]
    for company, person in zip(rng.sample(companies, 5), rng.sample(active, 5), strict=True):
        if company is not person and person["name"] not in {x["name"] for x in company["contacts"]}:
            company["contacts"].append(
                {"name": person["name"], "phone": person["phones"][0], "email": ""}
            )
    return customers + extra


def _unique_numbers(phones: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for phone in phones:
        digits = "".join(ch for ch in phone if ch.isdigit())[-9:]
        if digits not in seen:
            seen.add(digits)
            out.append(phone)
    return out


def _unique_names(contacts: list[dict[str, str]]) -> list[dict[str, str]]:
    by_name: dict[str, dict[str, str]] = {}
    for contact in contacts:
        by_name.setdefault(contact["name"], contact)
    return list(by_name.values())


# --------------------------------------------------------------------------- the centre


def _leaf(label: str, code: str) -> dict[str, Any]:
    return {"label": label, "code": code}


def _branch(label: str, *children: dict[str, Any]) -> dict[str, Any]:
    return {"label": label, "children": list(children)}


_TECH_REASONS_IN = [
    _branch(
        "Internet",
        _branch(
            "Nefunkční připojení",
            _leaf("Výpadek v lokalitě", "T-101"),
            _leaf("Porucha routeru nebo modemu", "T-102"),
            _leaf("Poškozený kabel", "T-103"),
        ),
        _branch(
            "Pomalé připojení",
            _leaf("Pokrytí Wi-Fi", "T-111"),
            _leaf("Rychlost pod smlouvou", "T-112"),
        ),
        _leaf("Nastavení Wi-Fi", "T-121"),
    ),
    _branch(
        "Televize",
        _branch(
            "Bez signálu", _leaf("Porucha set-top boxu", "T-201"), _leaf("Chybí kanál", "T-202")
        ),
        _leaf("Zamrzající obraz", "T-211"),
    ),
    _branch("Pevná linka", _leaf("Bez oznamovacího tónu", "T-301"), _leaf("Přenos čísla", "T-302")),
]
_TECH_REASONS_OUT = [
    _branch(
        "Kontrola po poruše",
        _leaf("Porucha odstraněna, potvrzeno", "TO-01"),
        _leaf("Domluvena návštěva technika", "TO-02"),
        _leaf("Zákazník nezastižen", "TO-03"),
    ),
    _branch("Plánovaná údržba", _leaf("Zákazník informován", "TO-10")),
]
_BILLING_REASONS_IN = [
    _branch(
        "Faktura",
        _leaf("Chybná částka", "B-101"),
        _leaf("Kopie faktury", "B-102"),
        _leaf("Faktura nedorazila", "B-103"),
    ),
    _branch(
        "Platba",
        _leaf("Nespárovaná platba", "B-201"),
        _leaf("Změna způsobu platby", "B-202"),
        _leaf("Upomínka", "B-203"),
    ),
    _branch(
        "Smlouva",
        _leaf("Změna adresy", "B-301"),
        _leaf("Výpověď", "B-302"),
        _leaf("Převod na jinou osobu", "B-303"),
    ),
]
_SALES_REASONS_IN = [
    _branch(
        "Nová služba",
        _branch(
            "Internet", _leaf("Optika 1 Gbit/s", "S-101"), _leaf("Bezdrát 100 Mbit/s", "S-102")
        ),
        _branch(
            "Televize", _leaf("Základní balíček", "S-111"), _leaf("Sportovní balíček", "S-112")
        ),
    ),
    _branch(
        "Navýšení služby", _leaf("Rychlejší internet", "S-201"), _leaf("Více TV kanálů", "S-202")
    ),
    _branch("Dotaz na cenu", _leaf("Zaslán ceník", "S-301")),
]

# (login, name, department, location, seat number, queues, language). Language None: the
# browser's (R-2.17, issue 16); only Petra chose Czech in her profile.
_AGENTS = (
    ("eva.novakova", "Eva Nováková", "Podpora Brno", "BRNO", 101, ("TECH", "SALES"), None),
    ("tomas.dvorak", "Tomáš Dvořák", "Podpora Brno", "BRNO", 102, ("TECH",), None),
    ("lucie.prochazkova", "Lucie Procházková", "Podpora Brno", "BRNO", 103, ("TECH", "BILLING"),
     None),
    ("martin.kral", "Martin Král", "Podpora Brno", "BRNO", 104, ("SALES",), None),
    ("petra.horakova", "Petra Horáková", "Podpora Ostrava", "OSTRAVA", 105, ("BILLING",), "cs"),
    ("jakub.marek", "Jakub Marek", "Podpora Ostrava", "OSTRAVA", 106, ("TECH", "BILLING"), None),
    ("veronika.fialova", "Veronika Fialová", "Podpora Ostrava", "OSTRAVA", 107, ("BILLING",),
     None),
    ("ondrej.zeman", "Ondřej Zeman", "Podpora Ostrava", "OSTRAVA", 108, ("TECH", "SALES"), None),
)  # fmt: skip
_RESTRICTED_SEATS = (107, 108)  # the team leaders' desks: offered only with a seat right


def _weekdays(opens: str, closes: str, days: tuple[str, ...]) -> list[dict[str, str]]:
    return [{"weekday": day, "opens": opens, "closes": closes} for day in days]


_MON_FRI = ("mon", "tue", "wed", "thu", "fri")


def _queue(code: str, name: str, **columns: Any) -> dict[str, Any]:
    members = [login for login, *_, queues, _lang in _AGENTS if code in queues]
    return {"code": code, "name": name, **columns, "agents": members}


def _queues(today: date) -> list[dict[str, Any]]:
    training_day = _first_weekday(today.year, 12, 0)
    rota_members = [
        {"agent": "eva.novakova", "priority": 3},
        {"agent": "jakub.marek", "priority": 2},
        {"number": "+420 603 555 010", "priority": 1},  # the on-call technician's mobile
        {"agent": "tomas.dvorak", "priority": 0},  # on the rota, takes no calls
    ]
    friday_members = [
        {"agent": "ondrej.zeman", "priority": 2},
        {"number": "+420 603 555 011", "priority": 1},
    ]
    return [
        _queue(
            "TECH",
            "Technická podpora",
            ring_timeout_s=20,
            overflow_enabled=True,
            overflow_after_s=90,
            callback_offer_after_s=60,
            callback_offer_repeat_s=60,
            voicemail_box="TECH-VM",
            callback_box="TECH-CB",
            country_prefix="420",
            caller_id_number="542100200",
            closed_on_weekends=False,  # open on Saturday morning
            closed_action="announce",
            hours_prompt="demo/tech-hours",
            missed_call_pause_type=7,
            support_turns_enabled=True,
            locations=["BRNO", "OSTRAVA"],
            hours=_weekdays("08:00", "17:00", _MON_FRI) + _weekdays("09:00", "12:00", ("sat",)),
            # In the evening straight to voicemail. A queue has one voicemail box, for `#` in
            # open hours as for closed ones, so it is named for both.
            closed_rules=[{"starts": "17:00", "ends": "22:00", "action": "voicemail"}],
            holidays=[],
            reasons={"in": _TECH_REASONS_IN, "out": _TECH_REASONS_OUT},
            support_turns=[
                {
                    "weekday": day,
                    "opens": "07:00",
                    "closes": "19:00",
                    "members": friday_members if day == "fri" else rota_members,
                }
                for day in _MON_FRI
            ],
        ),
        _queue(
            "BILLING",
            "Vyúčtování",
            ring_timeout_s=25,
            overflow_enabled=True,
            overflow_after_s=180,
            callback_offer_after_s=45,
            callback_offer_repeat_s=90,
            voicemail_box="BILLING",
            callback_box="BILLING",
            caller_id_number="542100100",
            closed_on_weekends=True,
            closed_action="announce",
            locations=["BRNO", "OSTRAVA"],
            hours=_weekdays("08:00", "17:00", _MON_FRI),
            closed_rules=[
                {"weekday": "fri", "starts": "15:00", "ends": "17:00", "action": "voicemail"}
            ],
            holidays=[],
            reasons={"in": _BILLING_REASONS_IN, "out": []},
        ),
        _queue(
            "SALES",
            "Obchod",
            ring_timeout_s=15,
            overflow_enabled=False,
            overflow_after_s=120,
            callback_offer_after_s=60,
            callback_offer_repeat_s=120,
            voicemail_box=None,
            callback_box="SALES-CB",
            caller_id_number="542100300",
            closed_on_weekends=True,
            closed_action="announce",
            locations=["BRNO"],  # sales serves Brno only: matching is limited to it
            hours=_weekdays("08:00", "17:00", _MON_FRI),
            closed_rules=[],
            holidays=[{"day": training_day, "name": "Školení obchodního týmu"}],
            reasons={"in": _SALES_REASONS_IN, "out": []},
        ),
    ]


# The words of the prompts the demo names: ``hotline prompts`` speaks them.
_PROMPTS = [
    {
        "name": "demo/main-menu",
        "en": "Welcome to NetMorava. For technical support, press one. For billing, press two. "
        "For sales, press three.",
        "cs": "Vítá vás NetMorava. Technická podpora, stiskněte jedničku. Vyúčtování, "
        "stiskněte dvojku. Objednávky a nové služby, stiskněte trojku.",
    },
    {
        "name": "demo/sales-menu",
        "en": "Sales. To order a new service, press one. For a question about your bill, "
        "press two. To go back to the main menu, press nine.",
        "cs": "Obchodní oddělení. Novou službu si objednáte jedničkou. S dotazem k vyúčtování "
        "stiskněte dvojku. Zpět do hlavní nabídky se vrátíte devítkou.",
    },
    {
        "name": "demo/tech-hours",
        "en": "NetMorava technical support is open Monday to Friday from eight to five, and on "
        "Saturday from nine to noon. To be called back, press zero.",
        "cs": "Technická podpora NetMorava je k dispozici v pondělí až pátek od osmi do "
        "sedmnácti hodin a v sobotu od devíti do dvanácti. Chcete-li, abychom vám zavolali, "
        "stiskněte nulu.",
    },
]


def _first_weekday(year: int, month: int, weekday: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def _agents() -> list[dict[str, Any]]:
    agents: list[dict[str, Any]] = [
        {
            "login": login,
            "name": name,
            "role": "agent",
            "department": department,
            "language": language,
            "selected_location": location,
            "password": DEMO_PASSWORD,
            "seats": [f"Pracoviště {seat}"],
        }
        for login, name, department, location, seat, _queues, language in _AGENTS
    ]
    agents += [
        {
            "login": "marie.benesova",
            "name": "Marie Benešová",
            "role": "backoffice",
            "department": "Back office",
            "language": None,
            "selected_location": "BRNO",
            "password": DEMO_PASSWORD,
            "boxes": ["BILLING", "SALES-CB", "TECH-CB", "TECH-VM"],
        },
        {
            "login": "pavel.cerny",
            "name": "Pavel Černý",
            "role": "supervisor",
            "department": "Vedení",
            "language": None,
            "selected_location": "BRNO",
            "password": DEMO_PASSWORD,
            "supervises": ["Podpora Brno"],
        },
        {
            "login": "admin",
            "name": "Administrátor",
            "role": "admin",
            "department": "Vedení",
            "language": None,
            "password": DEMO_PASSWORD,
        },
    ]
    return agents


def demo_catalog(
    seed: int = 7, *, today: date | None = None, customers: int = DEMO_CUSTOMERS
) -> dict[str, Any]:
    """The demo contact centre as the catalog structure (see ``docs/catalog-yaml.md``).

    Deterministic for ``seed`` and ``today`` (default: the local date); ``today`` picks the
    two years whose public holidays are listed.
    """
    day = today or date.today()
    rng = random.Random(seed)
    operators = [
        {
            "contract_number": f"OP-{city.code}",
            "name": f"NetMorava {city.name} s.r.o.",
            "location": city.code,
            "address": _address(rng, city),
            "active": True,
            "pseudo": False,
            "note": "Provozovatel lokality: sem lze přiřadit hovory neznámých volajících.",
            "phones": [f"+420 {city.landline_prefixes[0]} 100 100"],
            "contacts": [],
        }
        for city in _CITIES
    ]
    pseudo = [
        {
            "contract_number": f"OUT-{city.code}",
            "name": "OUTBOUND CALL",  # calls to people who are no customers
            "location": city.code,
            "active": True,
            "pseudo": True,
            "phones": [],
            "contacts": [],
        }
        for city in _CITIES
    ]
    return {
        "settings": {
            "centre_name": "Kontaktní centrum NetMorava",
            "country_prefix": "420",
            "time_zone": "Europe/Prague",
            "missed_call_pause_type": "7",
            "service_level_s": "20",  # R-5.4's default threshold
            "prompt_language": "cs",  # callers hear Czech unless their DID says otherwise
        },
        "departments": [
            {"name": name} for name in ("Podpora Brno", "Podpora Ostrava", "Back office", "Vedení")
        ],
        "locations": [
            {"code": city.code, "name": city.name, "operator": f"OP-{city.code}"}
            for city in _CITIES
        ],
        "pause_types": [
            {"position": 1, "name": "Osobní", "paid": False},
            {"position": 2, "name": "Oběd", "paid": False},
            {"position": 3, "name": "Úkol", "paid": True},
            {"position": 4, "name": "Porada", "paid": True},
            {"position": 5, "name": "Školení", "paid": True},
            {"position": 6, "name": "Porucha", "paid": True},
            {"position": 7, "name": "Zmeškaný hovor", "paid": True},
        ],
        "voicemail_boxes": [
            {
                "code": "TECH-VM",
                "name": "Technická podpora – vzkazy",
                "kind": "voicemail",
                "max_message_s": 180,
                "email_to": f"tech-support@{DEMO_DOMAIN}",
            },
            {"code": "TECH-CB", "name": "Technická podpora – zpětná volání", "kind": "callback"},
            {"code": "BILLING", "name": "Vyúčtování – vzkazy a zpětná volání", "kind": "combined"},
            {"code": "SALES-CB", "name": "Obchod – zpětná volání", "kind": "callback"},
        ],
        "phone_seats": [
            {
                "name": f"Pracoviště {seat}",
                "dial_string": f"PJSIP/{seat}",
                "restricted": seat in _RESTRICTED_SEATS,
            }
            for seat in range(101, 109)
        ],
        "agents": _agents(),
        "queues": _queues(day),
        "holidays": [
            {"day": holiday, "name": name}
            for year in (day.year, day.year + 1)
            for holiday, name in czech_public_holidays(year)
        ],
        "ivr_menus": [
            {
                "code": "MAIN",
                "name": "Hlavní nabídka",
                "prompt": "demo/main-menu",
                "timeout_s": 5,
                "max_retries": 2,
                "default_queue": "TECH",
                "options": [
                    {"digit": "1", "queue": "TECH"},
                    {"digit": "2", "queue": "BILLING"},
                    {"digit": "3", "menu": "SALES-MENU"},
                ],
            },
            {
                "code": "SALES-MENU",
                "name": "Nabídka obchodu",
                "prompt": "demo/sales-menu",
                "default_queue": "SALES",
                "options": [
                    {"digit": "1", "queue": "SALES"},
                    {"digit": "2", "queue": "BILLING"},
                    {"digit": "9", "menu": "MAIN"},  # back to the main menu
                ],
            },
        ],
        "dids": [
            {"number": "542100100", "name": "Hlavní linka Brno", "menu": "MAIN"},
            {"number": "596100100", "name": "Hlavní linka Ostrava", "menu": "MAIN"},
            # the line printed on the English leaflet: its callers hear English
            {
                "number": "542100200",
                "name": "Přímá linka technické podpory",
                "queue": "TECH",
                "language": "en",
            },
        ],
        "prompts": _PROMPTS,
        "report_schedules": [
            {
                "report": "queues",
                "period": "daily",
                "format": "csv",
                "email_to": f"pavel.cerny@{DEMO_DOMAIN}",
            },
            {
                "report": "agents",
                "period": "weekly",
                "format": "pdf",
                "email_to": f"pavel.cerny@{DEMO_DOMAIN}",
            },
            {
                "report": "ivr",
                "period": "monthly",
                "format": "xlsx",
                "email_to": f"management@{DEMO_DOMAIN}",
            },
        ],
        "customers": operators + pseudo + _customers(rng, customers),
    }


class _PlainDumper(yaml.SafeDumper):
    """Writes a shared list (the rota members of several days) out in full each time."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def demo_yaml(seed: int = 7, *, today: date | None = None) -> str:
    """The demo catalog as YAML text, as a user would write it (no anchors or aliases)."""
    return yaml.dump(
        demo_catalog(seed, today=today),
        Dumper=_PlainDumper,
        allow_unicode=True,
        sort_keys=False,
        width=100,
    )


def load_demo(session: Session, *, seed: int = 7, today: date | None = None) -> LoadSummary:
    """Load the demo contact centre through the catalog loader (the caller's transaction)."""
    return load_catalog(session, demo_yaml(seed, today=today), source="<demo>")


def always_open_yaml() -> str:
    """A catalog overlay opening the demo's queues around the clock, every day, so that a demo
    started at night or on a weekend still shows calls flowing through queues."""
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    hours = [{"weekday": day, "opens": "00:00", "closes": "23:59:59"} for day in days]
    queues = [
        {
            "code": q["code"],
            "name": q["name"],
            "closed_on_weekends": False,
            "hours": hours,
            "holidays": [],
            "closed_rules": [],
            "support_turns_enabled": False,
        }
        for q in demo_catalog()["queues"]
    ]
    return yaml.safe_dump({"queues": queues}, sort_keys=False, allow_unicode=True)
