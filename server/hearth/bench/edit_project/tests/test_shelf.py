from shelf.loader import load_items, parse_line
from shelf.models import Item, in_stock, total_value
from shelf.pricing import apply_discount, format_price, tax
from shelf.report import format_report


def test_value_and_total():
    items = [Item("pen", 1.5, 4), Item("ink", 3.0, 0)]
    assert items[0].value() == 6.0
    assert total_value(items) == 6.0
    assert in_stock(items) == [items[0]]


def test_pricing():
    assert apply_discount(100.0, 10) == 90.0
    assert tax(10.0) == 2.0
    assert format_price(2) == "2.00"


def test_loading(tmp_path):
    stock = tmp_path / "stock.csv"
    stock.write_text("pen;1.5;4\nink;3;0\n", encoding="utf-8")
    items = load_items(str(stock))
    assert items == [Item("pen", 1.5, 4), Item("ink", 3.0, 0)]
    assert parse_line("cap;2;1\n") == Item("cap", 2.0, 1)


def test_report():
    assert format_report([Item("pen", 1.5, 4)]) == "pen: 4 x 1.50\ntotal: 6.00"
