from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price: float
    quantity: int = 0

    def value(self):
        return self.price * self.quantity


def total_value(items):
    total = 0.0
    for item in items:
        total += item.value()
    return total


def in_stock(items):
    return [item for item in items if item.quantity > 0]
