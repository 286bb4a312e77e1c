"""The shop's entity families on its trained model (bot/nlu/entity_context.py): an e-mail address
given in the middle of an order conversation, in each `nlu.entity_families` mode. The shop has two
families, {item, order_number} and {email}, so the modes differ on exactly this kind of turn."""

from __future__ import annotations

from pathlib import Path

MIXED = "return the ceramic vase from order NW-10234, and my email is jo@example.com"


def test_an_email_address_inside_an_order_conversation_in_each_mode(trained_project: Path) -> None:
    from bot.nlu.transformer import TransformerClassifier

    model = trained_project / ".switchboard" / "models" / "nlu"
    found: dict[str, list[tuple[str, str]]] = {}
    for mode in ("off", "soft", "strict"):
        classifier = TransformerClassifier(model, quantize="int8", entity_families=mode)
        assert len(classifier.families.labels) == 2
        (prediction,) = classifier.predict([MIXED], [("order_status",)])
        found[mode] = [(e["entity"], e["value"]) for e in prediction.entities]
        del classifier
    for mode, entities in found.items():
        assert ("order_number", "NW-10234") in entities and ("item", "ceramic vase") in entities, (mode, entities)
    for mode in ("off", "soft"):  # soft keeps the type the head is sure of
        assert any(entity == "email" and "jo@example.com" in value for entity, value in found[mode]), found[mode]
    # strict: no order-family type fits an e-mail address, so it is dropped, not typed as an item
    assert not any("example" in value for _, value in found["strict"]), found["strict"]
