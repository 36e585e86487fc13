"""What a resident's words are about: a small lexicon of a district office's topics in kk/ru/en.

Each topic lists the beginnings of words (in folded spelling: Kazakh letters as their Russian
look-alikes, ё as е, й as и) that name it in any of the three languages, so "батареи холодные",
"нет отопления" and "жылу жоқ" all say `heating`. An entry with "=" in front matches the whole
word only ("ит", a dog, must not match "итог"). Where two entries match, the longer wins
("светофор" is a traffic light, not lighting).
"""
from __future__ import annotations

# Kazakh letters and their Russian look-alikes, ё and й: folded the same way on every side
FOLD = str.maketrans("қөүұәіғңһёй", "коууаигнхеи")  # noqa: RUF001 - look-alikes on purpose

TOPICS: dict[str, tuple[str, ...]] = {
    "heating": ("отопл", "тепл", "батаре", "радиатор", "мерзн", "мерзне", "замерз", "жылу", "жылыт",
                "=жылы", "heating", "heat", "radiator", "freez", "отопит"),
    # cold: heating, unless the question is about water ("из крана идёт только холодная": similarity.fingerprint)
    "cold": ("холодн", "холод", "=cold", "суык"),
    "hot_water": ("горяч", "гвс", "=ыстык", "hot water", "кипят"),
    "water": ("=вода", "=воды", "=воду", "=водой", "водопров", "водоснаб", "кран", "ржав", "=су", "=суы", "=суды", "=суга",
              "water", "напор", "канализ", "кариз", "sewer"),
    "gas": ("=газ", "газа", "газов", "газопр", "газосн", "газифи", "=gas"),
    "lift": ("лифт", "элеватор", "=lift", "lifts", "elevator"),
    "bus": ("автобус", "маршрут", "=bus", "buses", "route", "=рейс", "интервал", "interval", "транспорт", "transport"),
    "bus_stop": ("остановк", "остановоч", "аялдам", "павильон", "=stop", "shelter"),
    "fare": ("проезд", "=fare", "жол аки", "стоимость проезд"),
    "road": ("=ям", "=ямы", "=яма", "=ямам", "ямк", "выбоин", "ухаб", "асфальт", "дорог", "шункыр", "=жол", "жолд", "жолы",
             "pothole", "=road", "roads", "разрыт", "перекоп", "раскоп"),
    "snow": ("снег", "сугроб", "=кар", "=карды", "=кары", "кар тазал", "snow", "снегоубор"),
    "ice": ("гололед", "гололе", "=лед", "=льд", "скольз", "=муз", "=ice", "=icy", "слиппер", "посыпа", "=тайгак"),
    "icicles": ("сосульк", "icicle", "сунги"),
    "lighting": ("освещ", "фонар", "=свет", "=света", "светил", "темно", "темнот", "жарык", "=шам", "шамдар", "lighting", "=light",
                 "lights", "lamp", "=dark", "streetlight"),
    "traffic_light": ("светофор", "багдаршам", "traffic light", "trafficlight"),
    "crossing": ("переход", "зебр", "откел", "crosswalk", "crossing", "пешеход"),
    "dogs": ("собак", "=пес", "=псы", "=псов", "стая", "бездомн", "=ит", "=иттер", "иттерд", "иттер", "=dog", "dogs", "stray",
             "покус", "=осв", "отлов"),
    "parking": ("парков", "стоянк", "паркинг", "=турак", "тураг", "parking", "=park", "паркую", "паркуе", "припарк"),
    "tow": ("эвакуат", "штрафстоянк", "=tow", "towed", "tow truck"),
    "kindergarten": ("садик", "детсад", "детск сад", "=сад", "=саду", "=сада", "балабакш", "kindergarten", "nursery", "госзаказ",
                     "=ясли"),
    "queue": ("очеред", "=кезек", "кезег", "кезекк", "кезекте", "queue", "waiting list"),
    "school": ("школ", "мектеп", "school", "первоклас", "=1 класс", "=сынып"),
    "clinic": ("поликлин", "больниц", "=врач", "врача", "врачу", "емхан", "аурухан", "=дариг", "clinic", "hospital",
               "doctor"),
    "ambulance": ("скорая", "скорой", "скорую", "=жедел", "ambulance"),
    "appointment": ("запис", "=талон", "талонов", "дозвон", "appointment", "=прием", "=приема"),
    "garbage": ("мусор", "свалк", "=отход", "отходы", "контейнер", "=кокыс", "кокыст", "garbage", "trash", "=waste", "=bin", "bins",
                "мусоровоз", "помойк", "=вонь", "вонял"),
    "recycling": ("раздельн", "переработ", "recycl", "сортир", "вторсыр", "=пластик"),
    "bulky_waste": ("крупногабарит", "=мебель", "диван", "bulky", "furniture"),
    "noise": ("=шум", "шумн", "шума", "грохот", "долб", "тишин", "караоке", "=шу", "=шуы", "noise", "noisy", "=loud", "=оят", "оятад"),
    "construction": ("стройк", "строител", "застройк", "строят", "=курылыс", "курылыст", "construction", "building site",
                     "точечн", "забор", "ограждени", "fence"),
    "trees": ("дерев", "вырубк", "вырубил", "спил", "саженц", "=агаш", "агашт", "=tree", "trees", "seedling",
              "озеленени", "газон", "тополь", "тополя", "=пилят", "пилит", "=кесу"),
    "playground": ("площадк", "качел", "горк", "=алан", "аланы", "аланш", "=ойын", "playground", "swing", "slide"),
    "yard": ("двор", "=аула", "=ауласы", "=аулада", "=ауланы", "=yard", "yards", "courtyard"),
    "flooding": ("затоп", "ливнев", "=ливень", "лужа", "лужи", "=озеро", "=болото", "flood", "puddle", "=лив"),
    "tariff": ("тариф", "подорож", "повысил", "повышени", "=бага", "tariff", "=price", "prices", "кымбатта"),
    "bill": ("квитанц", "=счет", "=счета", "=сумма", "=сумму", "платеж", "начисл", "=толем", "толемак", "=bill",
             "bills", "invoice", "оплат", "=плата", "=плату", "=платы", "перерасчет", "=recalc", "recalculat"),
    "meter": ("счетчик", "есептеги", "=meter", "meters"),
    "electricity": ("электр", "=свет за", "=ток", "electric"),
    "osi": ("=оси", "=ксс", "=кск", "взнос", "=fee", "=fees"),
    "registration": ("прописк", "регистрац", "=тиркеу", "тиркел", "propiska", "registration"),
    "program": ("программ", "багдарлам", "program"),
    "stairwell": ("подъезд", "лестниц", "киребер", "баспалдак", "stairwell", "entrance", "=stairs"),
    "driver": ("водител", "=жургизуш", "жургизуши", "кондуктор", "=driver", "drivers"),
    "staff": ("воспитател", "=тарбиеш", "тарбиеши", "учител", "=мугалим", "мугалимд", "=teacher", "teachers"),
    "repair": ("ремонт", "жонде", "repair", "=fix", "fixed"),
}


def _build():
    exact: dict[str, set] = {}
    prefixes: dict[str, list] = {}
    for topic, entries in TOPICS.items():
        for entry in entries:
            entry = entry.lower().translate(FOLD)
            if " " in entry.strip("="):
                continue  # phrases are matched word by word: their first word carries them
            if entry.startswith("="):
                exact.setdefault(entry[1:], set()).add(topic)
            else:
                prefixes.setdefault(entry[:3], []).append((entry, topic))
    for items in prefixes.values():
        items.sort(key=lambda item: -len(item[0]))
    return exact, prefixes


_EXACT, _PREFIXES = _build()


def topics_of(word: str) -> set[str]:
    """The topics a folded, lower-case word names (empty when none)."""
    found = set(_EXACT.get(word, ()))
    best = 0
    for prefix, topic in _PREFIXES.get(word[:3], ()):
        if len(prefix) < best:
            break
        if word.startswith(prefix):
            found.add(topic)
            best = len(prefix)
    return found


# The city's streets, avenues, micro-districts and districts, as residents name them (beginnings of
# words in folded spelling, as TOPICS). Two questions that each name a street and share none are about
# two places. A default for Astana; an office elsewhere would list its own.
STREETS: tuple[str, ...] = tuple("""
кенесар сейфулл богенба кабанба туран сыгана бейбитш жубанов сарайш самал жастар =нура =нуре =нуры =нурой =нуру ондирис есил =есиль алматы алмати сарыарк
байконыр байконур республ =абая =абай мангилик конаев =кунаев достык кошкарба иманов пушкин ауэзов мауэзов тауелсиз отырар
иманбаев момышул туркист орынбор акмешит керей жанибек бокейхан хусейн сауран =дина калдаяк молдагул =кабанб =жибек
=маметов маметова петров =ташенов =бирж абылай =абылайхан =валиханов уалиханов =женис =желтоксан
акжол =акжол =байтурсын =шокан =шокана =сатпаев =кравцов =циолков =косшыгул =брусиловск =московск
=кордай =кайым =мухамедхан =бараев =чубары =коктал =тельмана =пригородн 
=нурсат =оркен =акбулак =энергетик =коктем =жилгородок =мичурино =кызылжар =шубар 
""".split())


def _streets():
    exact, prefixes = set(), set()
    for entry in STREETS:
        entry = entry.translate(FOLD)
        (exact if entry.startswith("=") else prefixes).add(entry.lstrip("="))
    return exact, prefixes


_STREET_EXACT, _STREET_PREFIXES = _streets()
_STREET_LONGEST = max(map(len, _STREET_PREFIXES))


# other forms of a listed street or district (a case of one listed whole, the Russian spelling), as it is listed
STREET_FORMS = {"нуре": "нура", "нуры": "нура", "нурой": "нура", "нуру": "нура", "алмати": "алматы", "баиконур": "баиконыр"}


def street_of(word: str) -> str | None:
    """The street or district a folded, lower-case word names (its listed beginning, or its listed
    whole word when no beginning is listed for it), or None: "есиль" and "есильском" are both "есил"."""
    for length in range(min(len(word), _STREET_LONGEST), 3, -1):
        if word[:length] in _STREET_PREFIXES:
            return STREET_FORMS.get(word[:length], word[:length])
    if word in _STREET_EXACT:
        return STREET_FORMS.get(word, word)
    return None
