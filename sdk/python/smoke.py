"""Smoke test of the Python client generated from openapi.json by openapi-python-client.

Run by sdk/run.sh against a live server: posts messages, reads the history, logs in, lists
clients and moves a stage. Needs RIVO_URL, RIVO_EMAIL and RIVO_PASSWORD (an active superuser).
"""

import os
import sys
import uuid

from rivo_api_client import AuthenticatedClient, Client
from rivo_api_client.api.account import account_login
from rivo_api_client.api.admin_clients import (
    admin_clients_create,
    admin_clients_list,
    admin_clients_set_stage,
)
from rivo_api_client.api.chat import chat_history, chat_send
from rivo_api_client.models import (
    ChatHistory,
    ChatMessage,
    ClientCreateRequest,
    ClientPage,
    FieldErrors,
    LoginRequest,
    LoginResponse,
    SendMessageRequest,
    SenderType,
    Stage,
    StageRequest,
    StageResult,
)


def check(condition: bool, what: str) -> None:
    if not condition:
        sys.exit(f"python SDK smoke test failed: {what}")


def main() -> None:
    base_url = os.environ["RIVO_URL"]
    email = os.environ["RIVO_EMAIL"]
    password = os.environ["RIVO_PASSWORD"]
    public = Client(base_url=base_url, raise_on_unexpected_status=True)
    session = uuid.uuid4()

    # Chat: two messages, then the history in order.
    for text, sender in [("Hi, I need a loan", SenderType.CLIENT), ("Sure, how much?", SenderType.BOT)]:
        sent = chat_send.sync_detailed(
            client=public, body=SendMessageRequest(session_id=session, message=text, sender_type=sender)
        )
        check(sent.status_code == 201, f"chat_send answered {sent.status_code}")
        check(isinstance(sent.parsed, ChatMessage), f"chat_send parsed {sent.parsed!r}")
        check(sent.parsed.message == text and sent.parsed.sender_type == sender, "stored message")
    history = chat_history.sync(client=public, session_id=str(session))
    check(isinstance(history, ChatHistory), f"chat_history parsed {history!r}")
    check([m.message for m in history.messages] == ["Hi, I need a loan", "Sure, how much?"], "history order")

    # A typed DRF field error.
    blank = chat_send.sync(client=public, body=SendMessageRequest(session_id=session, message="   "))
    check(isinstance(blank, FieldErrors) and "message" in blank.additional_properties, f"blank: {blank!r}")

    # Log in, then the admin API with the token.
    login = account_login.sync(client=public, body=LoginRequest(email=email, password=password))
    check(isinstance(login, LoginResponse), f"account_login parsed {login!r}")
    admin = AuthenticatedClient(base_url=base_url, token=login.token, raise_on_unexpected_status=True)
    name = f"Ada Lovelace {session}"
    created = admin_clients_create.sync(
        client=admin, body=ClientCreateRequest(name=name, chat_session_id=str(session))
    )
    check(getattr(created, "current_stage", None) == Stage.LEAD, f"admin_clients_create: {created!r}")
    page = admin_clients_list.sync(client=admin, search=str(session))
    check(isinstance(page, ClientPage) and page.count == 1, f"admin_clients_list: {page!r}")
    check(page.results[0].id == created.id and page.next_ is None, "the created client is listed")
    moved = admin_clients_set_stage.sync(
        created.id, client=admin, body=StageRequest(to_stage=Stage.CONTACTED, remarks="called back")
    )
    check(isinstance(moved, StageResult) and moved.changed, f"admin_clients_set_stage: {moved!r}")
    check(moved.client.current_stage == Stage.CONTACTED, "the client moved")
    check(moved.history.from_stage == Stage.LEAD and moved.history.to_stage == Stage.CONTACTED, "history")
    print(f"python SDK smoke test passed: client {created.id} moved lead -> contacted")


if __name__ == "__main__":
    main()
