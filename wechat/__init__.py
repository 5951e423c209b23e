"""The only code that talks to Tencent: wechatpy clients pointed at ``wechat.api_base_url``, errors mapped to ours."""
