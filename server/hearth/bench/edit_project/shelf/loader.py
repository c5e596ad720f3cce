from shelf.models import Item


def parse_line(line):
    name, price, quantity = line.strip().split(";")
    return Item(name, float(price), int(quantity))


def fetch(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def load_items(path):
    text = fetch(path)
    return [parse_line(line) for line in text.splitlines() if line.strip()]
