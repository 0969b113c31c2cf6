"""Accounts in the console, in a real browser: an administrator creates an account of a scoped role (a bad one
refused with the reason, nothing created), it signs in and sees its own scope, and disabling it ends its session
at once. No other role reaches the page."""

from __future__ import annotations

from tests.console.conftest import PASSWORD, Console


async def test_an_administrator_creates_and_disables_accounts(console: Console) -> None:
    admin = await console.signed_in("admin")
    admin.on("dialog", lambda dialog: dialog.accept())  # the confirmation before disabling
    await admin.click("#nav-accounts")
    await admin.fill("#new-name", "liu")
    await admin.select_option("#new-role", "coordinator")
    await admin.fill("#new-password", PASSWORD)
    await admin.fill("#new-again", PASSWORD)
    await admin.click("#create-submit")  # a coordinator without a prefecture
    assert "需要其市州的六位代码" in (await admin.text_content("#problem") or "")  # the refusal said in Chinese
    assert await admin.input_value("#new-name") == "liu"
    await admin.fill("#new-prefecture", "430300")
    await admin.fill("#new-password", PASSWORD)
    await admin.fill("#new-again", PASSWORD)
    await admin.click("#create-submit")
    assert await admin.text_content("#done") == "已创建账号 liu。"
    async with console.store.pool.connection() as conn:
        cur = await conn.execute("SELECT role, prefecture, created_by FROM accounts WHERE name = 'liu'")
        assert await cur.fetchone() == ("coordinator", "430300", "admin:admin")

    liu = await console.signed_in("liu")
    assert "430300" in (await liu.text_content("#who") or "")
    await admin.click("#disable-liu")
    assert await admin.text_content("#done") == "已停用账号 liu。"
    await liu.reload()
    assert liu.url == f"{console.address}/console/sign-in"  # its session ended with the account

    coordinator = await console.signed_in("coordinator")
    assert not await coordinator.is_visible("#nav-accounts")
    refused = await coordinator.goto(f"{console.address}/console/accounts")
    assert refused is not None and refused.status == 403
