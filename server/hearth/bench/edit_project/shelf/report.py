import os

from shelf.loader import load_items
from shelf.models import in_stock, total_value
from shelf.pricing import format_price


def format_report(items):
    lines = [f"{item.name}: {item.quantity} x {format_price(item.price)}" for item in in_stock(items)]
    lines.append(f"total: {format_price(total_value(items))}")
    return "\n".join(lines)


def report_file(path):
    return format_report(load_items(path))
