"""How ``make chat`` and the console's chat simulator show a customer-service message that arrived later."""

from emulator.follower import describe


def test_a_text_shows_its_content_and_media_its_kind_and_id() -> None:
    assert describe({"msgtype": "text", "text": {"content": "您好"}}) == "您好"
    assert describe({"msgtype": "image", "image": {"media_id": "Y2tzD3ei3TGKbGG8"}}) == "[image Y2tzD3ei3T…]"
    assert describe({"msgtype": "news", "news": {"articles": []}}) == "[news]"
    assert describe("odd") == "odd"
