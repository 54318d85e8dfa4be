"""A real-looking class of 40 small methods, for the ranking tests (tests/test_ranking.py).

``Inventory.needs_reorder`` is a 3-line method among them: search must find it
by a description of what it does, and return only its lines.
"""

INVENTORY = '''\
"""A warehouse inventory: stock levels, prices, orders and reports."""

from collections import defaultdict


class Inventory:
    def __init__(self, name, currency="EUR"):
        self.name = name
        self.currency = currency
        self.stock = defaultdict(int)
        self.prices = {}
        self.reorder_points = {}
        self.default_reorder_point = 5
        self.history = []
        self.suppliers = {}
        self.locations = {}

    def add_item(self, sku, quantity, price):
        self.stock[sku] += quantity
        self.prices[sku] = price
        self.history.append(("add", sku, quantity))

    def remove_item(self, sku, quantity):
        if self.stock[sku] < quantity:
            raise ValueError(f"only {self.stock[sku]} of {sku} left")
        self.stock[sku] -= quantity
        self.history.append(("remove", sku, quantity))

    def set_price(self, sku, price):
        if price < 0:
            raise ValueError("a price cannot be negative")
        self.prices[sku] = price

    def price_of(self, sku):
        return self.prices[sku]

    def quantity_of(self, sku):
        return self.stock.get(sku, 0)

    def total_value(self):
        return sum(self.stock[s] * self.prices.get(s, 0) for s in self.stock)

    def most_expensive(self):
        return max(self.prices, key=self.prices.get)

    def cheapest(self):
        return min(self.prices, key=self.prices.get)

    def skus(self):
        return sorted(s for s, q in self.stock.items() if q > 0)

    def out_of_stock(self):
        return sorted(s for s, q in self.stock.items() if q == 0)

    def set_reorder_point(self, sku, level):
        self.reorder_points[sku] = level

    def needs_reorder(self, sku):
        level = self.stock.get(sku, 0)
        return level <= self.reorder_points.get(sku, self.default_reorder_point)

    def set_supplier(self, sku, supplier):
        self.suppliers[sku] = supplier

    def supplier_of(self, sku):
        return self.suppliers.get(sku)

    def skus_from(self, supplier):
        return sorted(s for s, who in self.suppliers.items() if who == supplier)

    def place_at(self, sku, shelf):
        self.locations[sku] = shelf

    def shelf_of(self, sku):
        return self.locations.get(sku, "unassigned")

    def move(self, sku, shelf):
        old = self.locations.get(sku)
        self.locations[sku] = shelf
        self.history.append(("move", sku, old, shelf))

    def apply_discount(self, percent):
        for sku in self.prices:
            self.prices[sku] = round(self.prices[sku] * (100 - percent) / 100, 2)

    def raise_prices(self, percent):
        for sku in self.prices:
            self.prices[sku] = round(self.prices[sku] * (100 + percent) / 100, 2)

    def convert_currency(self, rate, currency):
        self.prices = {s: round(p * rate, 2) for s, p in self.prices.items()}
        self.currency = currency

    def history_of(self, sku):
        return [entry for entry in self.history if entry[1] == sku]

    def clear_history(self):
        self.history.clear()

    def units_removed(self, sku):
        return sum(e[2] for e in self.history if e[0] == "remove" and e[1] == sku)

    def units_added(self, sku):
        return sum(e[2] for e in self.history if e[0] == "add" and e[1] == sku)

    def best_seller(self):
        removed = {s: self.units_removed(s) for s in self.stock}
        return max(removed, key=removed.get) if removed else None

    def merge(self, other):
        for sku, quantity in other.stock.items():
            self.stock[sku] += quantity
        self.prices.update(other.prices)

    def split_off(self, skus, name):
        part = Inventory(name, self.currency)
        for sku in skus:
            part.add_item(sku, self.stock.pop(sku, 0), self.prices.get(sku, 0))
        return part

    def to_rows(self):
        return [(s, self.stock[s], self.prices.get(s)) for s in sorted(self.stock)]

    def to_csv(self):
        lines = ["sku,quantity,price"]
        lines += [f"{s},{q},{p}" for s, q, p in self.to_rows()]
        return "\\n".join(lines)

    def from_rows(self, rows):
        for sku, quantity, price in rows:
            self.add_item(sku, int(quantity), float(price))

    def count_items(self):
        return sum(self.stock.values())

    def count_skus(self):
        return len([s for s in self.stock if self.stock[s] > 0])

    def average_price(self):
        return sum(self.prices.values()) / len(self.prices) if self.prices else 0.0

    def items_above(self, price):
        return sorted(s for s, p in self.prices.items() if p > price)

    def items_below(self, price):
        return sorted(s for s, p in self.prices.items() if p < price)

    def reserve(self, sku, quantity):
        self.remove_item(sku, quantity)
        self.history.append(("reserve", sku, quantity))

    def release(self, sku, quantity):
        self.stock[sku] += quantity
        self.history.append(("release", sku, quantity))

    def audit(self, counted):
        return {s: counted.get(s, 0) - q for s, q in self.stock.items() if counted.get(s, 0) != q}

    def summary(self):
        return f"{self.name}: {self.count_skus()} products, {self.total_value():.2f} {self.currency}"
'''
