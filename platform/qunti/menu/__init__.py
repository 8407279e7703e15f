"""The service menu (群团服务菜单): the items residents order from."""
